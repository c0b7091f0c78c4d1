"""Exceptions raised by ferengine; each message says what was expected, what was found and where."""


class FerengineError(Exception):
    """Base class of every ferengine error."""


class UnknownPluginError(FerengineError, KeyError):
    """No plugin of that kind and name is registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class PluginUnavailableError(FerengineError):
    """The plugin is registered but cannot be used here (missing dependency, broken, conflict)."""


class PluginConflictError(FerengineError):
    """Two packages register a plugin with the same kind and name."""


class InvalidPluginError(FerengineError):
    """A plugin class does not satisfy the plugin contract."""


class PluginLoadError(FerengineError, ImportError):
    """A plugin package failed to import or its hook raised (raised in strict mode only)."""


class MissingParameterError(FerengineError, TypeError):
    """A plugin was created without a parameter it requires; ``missing`` lists their names."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


class StepOutputError(FerengineError, ValueError):
    """A pipeline step returned the wrong output: shape, rows, non-finite values or width."""


class MissingProbabilitiesError(FerengineError, ValueError):
    """A classifier without ``predict_proba`` is used where class probabilities are needed."""


class UnsupportedModelError(FerengineError, ValueError):
    """An explainer or an export cannot handle this model; the message says which, and why."""


class FerengineWarning(UserWarning):
    """Base class of ferengine's warnings; the CLI prints each as one ``warning:`` line."""


class PluginWarning(FerengineWarning):
    """Something about the installed plugins that works but deserves attention."""


class DamagedFileWarning(FerengineWarning):
    """A damaged file was moved aside (the message names both paths)."""


class CacheWarning(FerengineWarning):
    """A damaged cache entry was removed and is built again (the message names it and why)."""


class DatasetError(FerengineError, ValueError):
    """A dataset is malformed: wrong shapes, labels, files or rows."""


class DamagedCacheError(DatasetError):
    """A dataset cache folder is missing a file, truncated or does not match its record."""


class LabelError(FerengineError, ValueError):
    """A label is not in the label space, or a mapping cannot place it."""


class UnsafeModelError(FerengineError):
    """A model file would need to execute or import code that is not trusted."""


class ModelFormatError(FerengineError, ValueError):
    """A model file is not a ferengine model, or is damaged."""


class MissingPluginError(ModelFormatError):
    """A model file needs a plugin package that is not installed (its manifest names it)."""


def one_line(text: object, limit: int | None = None) -> str:
    """Return ``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"

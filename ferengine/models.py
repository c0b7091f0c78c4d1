"""Pretrained models: the ``model`` plugin kind, its cards, and how a model name resolves.

A package ships a trained model as a weights file inside the package (a model file
written by :func:`ferengine.save`) and registers a :class:`PretrainedModel` subclass for
it from its ``ferengine_register_models`` hook. The class carries a frozen
:class:`ModelCard`: where the file is, what the model expects and predicts, what it was
trained on, under which licence, and how accurate it measured (with the command that
measured it). Then

* ``ferengine.load(NAME)`` loads the file (:func:`locate` says how a name or a path
  resolves, and refuses a string that is both);
* ``ferengine models`` lists the registered models and ``ferengine models show NAME``
  prints a card;
* ``NAME`` is a pipeline step (``pipeline("default")``, ``{ name = "default" }`` in a
  suite): its ``fit`` loads the weights instead of training, and it predicts with them.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ferengine.errors import FerengineError, ModelFormatError, UnknownPluginError

if TYPE_CHECKING:
    from ferengine.registry import Registry

__all__ = [
    "MODEL_PREFIX",
    "AmbiguousModelError",
    "Measurement",
    "ModelCard",
    "PretrainedModel",
    "card_dict",
    "locate",
]

#: Prefix that names a registered model where a string could also be a path.
MODEL_PREFIX = "model:"


class AmbiguousModelError(FerengineError, ValueError):
    """A model argument names both a local file and a registered model."""


@dataclass(frozen=True)
class Measurement:
    """One measured figure of a pretrained model, with the command that measured it.

    Parameters
    ----------
    metric : str
        What was measured (``"accuracy"``, ``"balanced accuracy"``…).
    value : float
        The figure.
    data : str
        The images it was measured on (``"FER2013 PublicTest, 3,589 images"``).
    command : str
        The command that reproduces it.
    date : str
        When it was measured (ISO date).
    """

    metric: str
    value: float
    data: str
    command: str
    date: str = ""


@dataclass(frozen=True)
class ModelCard:
    """What a pretrained model is: its file, inputs, outputs, provenance and accuracy.

    Parameters
    ----------
    package : str
        The importable package whose files hold the model (``"ferengine_deep"``).
    file : str
        The model file inside that package, ``/``-separated (``"models/default.fer"``).
    label_space : str
        Name of the label space of its outputs (``ferengine plugins label-space``).
    classes : tuple of str
        Class names in the order of the model's output columns.
    input_size : (int, int)
        Height and width of the face crops it takes, in pixels.
    channels : {1, 3}
        1 for grey crops, 3 for colour (RGB).
    normalization : str
        How pixel values are scaled before the network, and where that happens.
    preprocessing : str
        How a face crop is made for it (detector box, margin, resizing…).
    training_data : str
        The images it was trained on.
    licence : str
        Licence of the weights (and what restricts them, such as the training data's terms).
    measurements : tuple of Measurement
        Measured figures, each with the command that measured it.
    training_spec : str
        The model spec that trained it (a path in its source repository, say); the
        model file's manifest also holds the spec it was trained with.
    """

    package: str
    file: str
    label_space: str
    classes: tuple[str, ...]
    input_size: tuple[int, int]
    channels: int
    normalization: str
    preprocessing: str
    training_data: str
    licence: str
    measurements: tuple[Measurement, ...] = field(default_factory=tuple)
    training_spec: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.package or not self.file:
            problems.append("package and file are required")
        parts = PurePosixPath(self.file).parts
        if PurePosixPath(self.file).is_absolute() or ".." in parts:
            problems.append(f"file {self.file!r} must be a relative path inside the package")
        if not self.classes or len(set(self.classes)) != len(self.classes):
            problems.append(f"classes must be distinct names, got {self.classes!r}")
        size = tuple(self.input_size)
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            problems.append(f"input_size must be (height, width) in pixels, got {size!r}")
        if self.channels not in (1, 3):
            problems.append(f"channels must be 1 (grey) or 3 (colour), got {self.channels!r}")
        if not all(isinstance(m, Measurement) for m in self.measurements):
            problems.append("measurements must be Measurement records")
        if problems:
            raise ValueError("invalid model card: " + "; ".join(problems))

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The crop shape the model takes: (height, width) grey or (height, width, 3)."""
        return tuple(self.input_size) + ((3,) if self.channels == 3 else ())


class PretrainedModel(ClassifierMixin, BaseEstimator):
    """A model trained elsewhere, shipped as weights: the ``model`` plugin kind.

    Subclasses set ``name`` (kebab-case), a docstring whose first line describes the
    model, ``card`` (a :class:`ModelCard`) and, when the weights need modules beyond
    the core (torch), ``requires`` and ``extra``; the card is checked when the class is
    defined.

    As a pipeline step, :meth:`fit` loads the weights and checks that the training
    labels are among the model's classes; it never trains. ``predict`` and
    ``predict_proba`` are the loaded model's.

    Attributes
    ----------
    model_ : estimator
        The loaded model.
    classes_ : ndarray
        The loaded model's classes (codes of its label space).
    image_shape_ : tuple of int
        The crop shape the card declares (``predict`` crops faces to it).
    """

    name: ClassVar[str]
    card: ClassVar[ModelCard]
    requires: ClassVar[tuple[str, ...]] = ()
    _image_input = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "card" in cls.__dict__ and not isinstance(cls.card, ModelCard):
            raise TypeError(f"{cls.__qualname__}.card must be a ModelCard, got {cls.card!r}")

    @classmethod
    def path(cls) -> Path:
        """Return the model file inside its package.

        Raises
        ------
        FileNotFoundError
            The package is not installed, or the file is missing from it.
        """
        card = cls.card
        try:
            resource = resources.files(card.package).joinpath(card.file)
        except ModuleNotFoundError:
            raise FileNotFoundError(
                f"model {cls.name!r}: its package {card.package!r} is not installed"
            ) from None
        if not isinstance(resource, Path) or not resource.is_file():
            raise FileNotFoundError(
                f"model {cls.name!r}: {card.file} is missing from package {card.package!r}"
            )
        return resource

    def fit(self, X: Any = None, y: Any = None) -> PretrainedModel:
        """Load the weights (no training); ``y``, if given, must hold the model's classes.

        Returns
        -------
        self
        """
        from ferengine.persistence import load

        model = load(self.path())
        space = getattr(model, "label_space_", None)
        if space is not None and tuple(space.names) != tuple(self.card.classes):
            raise ModelFormatError(
                f"model {self.name!r}: the file's classes {list(space.names)} are not the "
                f"card's {list(self.card.classes)}"
            )
        classes = np.asarray(model.classes_)
        if y is not None:
            unknown = sorted(set(np.unique(np.asarray(y)).tolist()) - set(classes.tolist()))
            if unknown:
                raise ValueError(
                    f"model {self.name!r} predicts the {self.card.label_space} classes "
                    f"{list(self.card.classes)} (codes {classes.tolist()}); the training "
                    f"labels hold {unknown[:5]}, which it cannot predict"
                )
        self.model_ = model
        self.classes_ = classes
        self.image_shape_ = self.card.image_shape
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predict classes with the loaded model."""
        check_is_fitted(self, "model_")
        return self.model_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the loaded model, columns in ``classes_`` order."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(X)


def card_dict(cls: type[PretrainedModel]) -> dict[str, Any]:
    """Return a registered model's card as JSON-able data, with its name and description."""
    doc = inspect.getdoc(cls) or ""
    return {
        "name": cls.name,
        "description": doc.strip().splitlines()[0] if doc else "",
        **asdict(cls.card),
    }


def locate(
    model: str | Path, registry: Registry | None = None
) -> tuple[Path, type[PretrainedModel] | None]:
    """Return the file of a model given by path or registered name, and its class if named.

    * a :class:`~pathlib.Path` is a path;
    * ``"model:NAME"`` (``"model:PACKAGE:NAME"``) is the registered model ``NAME``;
    * any other string is a registered model's name when one has it, else a path.

    Raises
    ------
    AmbiguousModelError
        The string is a registered model's name and also names an existing file here;
        the message says how to write either.
    FileNotFoundError
        A plain name that is neither a file nor a registered model (close names
        suggested), or a registered model whose file is missing.
    PluginUnavailableError
        A registered model whose dependencies are not installed (with the extra).
    """
    if isinstance(model, Path):
        return model, None
    from ferengine.registry import get_registry

    registry = registry or get_registry()
    text = str(model)
    if text.startswith(MODEL_PREFIX):
        cls = registry.get("model", text)
        return cls.path(), cls
    try:
        registry.record("model", text)
        named = True
    except UnknownPluginError:
        named = False
    if named and Path(text).is_file():
        raise AmbiguousModelError(
            f"{text!r} is both a file in {Path.cwd()} and a registered model; write "
            f"'./{text}' for the file or '{MODEL_PREFIX}{text}' for the registered model"
        )
    if named:
        cls = registry.get("model", text)
        return cls.path(), cls
    if not Path(text).exists() and not any(c in text for c in "/\\."):
        known = registry.names("model")
        close = difflib.get_close_matches(text, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise FileNotFoundError(
            f"{text!r} is neither a model file nor a registered model{hint} "
            f"(registered models: {', '.join(known) or 'none'}; `ferengine models` lists them)"
        )
    return Path(text), None

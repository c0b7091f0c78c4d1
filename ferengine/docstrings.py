"""Parameter documentation read from numpy-style class docstrings.

``ferengine plugins show`` and :meth:`ferengine.registry.Registry.info` describe each
constructor parameter of a plugin from the same docstring the API reference is
generated from. Parsing is docstring_parser's; this module only picks, per parameter,
the first class of the plugin's MRO that documents it (a plugin subclassing
scikit-learn's ``LogisticRegression`` inherits its parameter descriptions) and shortens
each description to one line.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from docstring_parser import DocstringStyle, ParseError, parse

__all__ = ["ParameterDoc", "one_line_description", "parameter_docs"]

#: reST roles (``:class:`~a.b.C```) and inline literals (````x````) as plain text.
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]*)``")
_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z])")


@dataclass(frozen=True)
class ParameterDoc:
    """What a class docstring says about one constructor parameter.

    Parameters
    ----------
    type : str
        The type as the docstring writes it (``"int or (int, int)"``), or ``""``.
    description : str
        The first sentence of its description, as plain text on one line, or ``""``.
    source : str
        Qualified name of the class whose docstring documents it (a base class, for
        an inherited parameter), or ``""`` when no class in the MRO documents it.
    """

    type: str = ""
    description: str = ""
    source: str = ""


def one_line_description(text: str | None) -> str:
    """Return the first sentence of a docstring description as plain text on one line.

    reST roles and inline literals lose their markup (``:class:`~x.Y``` becomes
    ``Y``); only the first paragraph is read.
    """
    if not text:
        return ""
    paragraph = " ".join(text.strip().split("\n\n")[0].split())
    paragraph = _LITERAL.sub(r"\1", _ROLE.sub(lambda m: m.group(1).split(".")[-1], paragraph))
    return _SENTENCE_END.split(paragraph, maxsplit=1)[0]


def _documented(cls: type) -> tuple[dict[str, ParameterDoc], dict[str, ParameterDoc]]:
    """Return the parameters and the attributes documented by ``cls``'s own docstring."""
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return {}, {}
    try:
        parsed = parse(inspect.cleandoc(doc), style=DocstringStyle.NUMPYDOC)
    except ParseError:
        return {}, {}
    found: dict[str, dict[str, ParameterDoc]] = {"param": {}, "attribute": {}}
    pending: list[str] = []  # "a, b," wrapped onto the next line of the docstring
    for item in parsed.params:
        section = found.get(item.args[0])  # "param", "attribute"; not "other_param"...
        if section is None:
            continue
        names = pending + [n.strip().lstrip("*") for n in item.arg_name.split(",")]
        if item.arg_name.rstrip().endswith(",") and not item.description:
            pending = [n for n in names if n]
            continue
        pending = []
        entry = ParameterDoc(
            item.type_name or "", one_line_description(item.description), cls.__qualname__
        )
        section.update((name, entry) for name in names if name)
    return found["param"], found["attribute"]


def parameter_docs(cls: type, names: list[str] | None = None) -> dict[str, ParameterDoc]:
    """Return the documentation of each constructor parameter of ``cls``.

    Parameters
    ----------
    cls : type
        A plugin class (any class with a numpy-style docstring).
    names : list of str, optional
        The parameters to describe (default: those of ``cls.__init__``).

    Returns
    -------
    dict
        Parameter name -> :class:`ParameterDoc`, in ``names`` order. A parameter is
        described by the first class of ``cls.__mro__`` whose docstring documents it;
        failing that, by the first whose ``Attributes`` section documents it (a base
        class that leaves the constructor to its subclasses); its type falls back to the
        constructor's annotation. An undocumented parameter gets an empty description.
    """
    signature = inspect.signature(cls.__init__)
    if names is None:
        names = [
            p.name
            for p in list(signature.parameters.values())[1:]
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
    docs: dict[str, ParameterDoc] = {}
    attributes: dict[str, ParameterDoc] = {}
    for klass in cls.__mro__:
        if klass is object:
            break
        params, attrs = _documented(klass)
        for name, entry in attrs.items():
            attributes.setdefault(name, entry)
        for name, entry in params.items():
            known = docs.get(name)
            if known is None:
                docs[name] = entry
            elif not known.description and entry.description:  # "mode : str" alone
                docs[name] = ParameterDoc(
                    known.type or entry.type, entry.description, klass.__qualname__
                )
    out = {}
    for name in names:
        # a base class without the constructor (FaceDetector) documents it as an attribute
        entry = docs.get(name) or attributes.get(name, ParameterDoc())
        if not entry.description and name in attributes:
            fallback = attributes[name]
            entry = ParameterDoc(entry.type or fallback.type, fallback.description, fallback.source)
        if not entry.type and name in signature.parameters:
            annotation = signature.parameters[name].annotation
            if annotation is not inspect.Parameter.empty:
                shown = (
                    annotation
                    if isinstance(annotation, str)
                    else inspect.formatannotation(annotation)
                )
                entry = ParameterDoc(shown, entry.description, entry.source)
        out[name] = entry
    return out

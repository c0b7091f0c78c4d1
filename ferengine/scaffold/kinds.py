"""What ``ferengine new-plugin`` writes for each plugin kind: module, summary, dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from ferengine.registry import KINDS


@dataclass(frozen=True)
class KindTemplate:
    """The template of one plugin kind.

    Attributes
    ----------
    kind : str
        The registry kind (one of :data:`ferengine.registry.KINDS`).
    module : str
        Name of the generated module holding the plugin class (``feature`` for
        ``<package>/feature.py``).
    summary : str
        One sentence describing the generated plugin (package description, docstrings).
    dependencies : tuple of str
        Requirements of the generated package besides ferengine.
    """

    kind: str
    module: str
    summary: str
    dependencies: tuple[str, ...] = ("numpy",)


#: Every kind with a template; :func:`supported_kinds` orders them as the registry does.
TEMPLATES: dict[str, KindTemplate] = {
    t.kind: t
    for t in (
        KindTemplate("dataset", "dataset", "A ferengine dataset: faces in a CSV file."),
        KindTemplate("preprocessor", "preprocessor", "A ferengine preprocessor: gamma correction."),
        KindTemplate(
            "augmenter", "augmenter", "A ferengine augmenter: Gaussian noise on training images."
        ),
        KindTemplate(
            "feature", "feature", "A ferengine feature: the mean grey level of each grid cell."
        ),
        KindTemplate(
            "classifier",
            "classifier",
            "A ferengine classifier: the nearest class mean, with probabilities.",
            ("numpy", "scipy", "scikit-learn"),
        ),
        KindTemplate("detector", "detector", "A ferengine face detector: a centred square.", ()),
        KindTemplate(
            "landmarker",
            "landmarker",
            "A ferengine landmarker: five points at their mean positions in the face box.",
        ),
        KindTemplate(
            "label-space",
            "label_space",
            "A ferengine label space: low, medium and high intensity.",
            (),
        ),
    )
}


def template_files(kind: str) -> Traversable:
    """Return the folder of the kind's template files (package data of ferengine.scaffold)."""
    return resources.files("ferengine.scaffold") / "templates" / kind


def supported_kinds() -> tuple[str, ...]:
    """Return the kinds ``ferengine new-plugin`` can write, in the registry's order.

    The architecture and model kinds have no template: an architecture needs torch and a
    model its trained weights, which a generated package cannot hold.
    """
    return tuple(k for k in KINDS if k in TEMPLATES and template_files(k).is_dir())

"""A label space: low, medium and high arousal."""

from __future__ import annotations

from ferengine.labels import LabelSpacePlugin


class Arousal3(LabelSpacePlugin):
    """Low, medium and high arousal."""

    name = "arousal3"
    names = ("low", "medium", "high")

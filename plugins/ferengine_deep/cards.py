"""The pretrained models that ship inside this package, each with its card."""

from __future__ import annotations

from ferengine.labels import FER7, FERPLUS8, LabelSpace
from ferengine.models import Measurement, ModelCard, PretrainedModel

# Commands name the data folder as $FERENGINE_DATA (the folder holding fer2013/), so
# tests/test_shipped_model.py can run them as they are written here.
_FER2013 = "--dataset fer2013 --path $FERENGINE_DATA/fer2013/fer2013.csv.gz"
# FER+ majority labels: not-a-face and unknown-majority images dropped, ties labelled with
# the first tied class in FER+ order (as the ferplus suite)
_FERPLUS = (
    f"{_FER2013} --param ferplus=$FERENGINE_DATA/fer2013/fer2013new.csv.gz "
    "--param ferplus_ties=first"
)
_WILD = (
    "ferengine predict $FERENGINE_DATA/wild/img --model {name} --out D --no-annotate --json; "
    "python benchmarks/faces_in_photos.py --accuracy --predictions D"
)
_WILD_DATA = (
    "wild: 1,200 web photos with one face each, labelled happy or neutral (noisy); the "
    "largest face's top class, happy or neutral, against the label"
)
_NORMALIZATION = (
    "inside the network (cnn normalize='image'): each uint8 crop is scaled to [0, 1], then "
    "to zero mean and unit variance"
)
_PREPROCESSING = (
    "grey face crop, square, resized to 48×48 with area interpolation; ferengine predict "
    "widens the detector's box by 20% of its side on every side (FER2013's crops show the "
    "whole head)"
)
_LICENCE = (
    "MIT, as ferengine; the weights are learned from FER2013 (and, for FER+, Microsoft's "
    "FER+ votes), whose own terms of use apply to that data"
)


def _evaluated(command: str, data: str, date: str, **figures: float) -> tuple[Measurement, ...]:
    """Return the figures one ``ferengine evaluate --json`` command printed (its JSON keys)."""
    names = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
             "macro_f1": "macro-F1"}  # fmt: skip
    return tuple(Measurement(names[k], v, data, command, date) for k, v in figures.items())


def _compact_card(name: str, space: LabelSpace, evaluated: tuple[Measurement, ...],
                  wild: float, **fields: str) -> ModelCard:  # fmt: skip
    """Return the card of a shipped ``compact`` CNN on 48×48 grey crops (``name``.fer).

    ``evaluated`` are its ``ferengine evaluate`` figures, ``wild`` its happy-vs-neutral
    accuracy on the wild photos; ``fields`` are ``training_data`` and ``training_spec``.
    """
    at_wild = Measurement("happy-vs-neutral accuracy", wild, _WILD_DATA,
                          _WILD.format(name=name), "2026-12-03")  # fmt: skip
    return ModelCard(
        package="ferengine_deep",
        file=f"models/{name}.fer",
        label_space=space.name,
        classes=space.names,
        input_size=(48, 48),
        channels=1,
        normalization=_NORMALIZATION,
        preprocessing=_PREPROCESSING,
        licence=_LICENCE,
        measurements=(*evaluated, at_wild),
        **fields,
    )


class Default(PretrainedModel):
    """The recommended CNN: compact narrow VGG on 48×48 grey faces, trained on the FER+ votes.

    FER2013 Training relabelled by the FER+ crowd, trained towards each face's
    distribution of ten votes; 8 classes (the ``ferplus8`` label space: ``happiness``,
    not ``happy``; with ``contempt``). On FER+ PublicTest (majority labels) it scores
    0.8438. It is the default because of real photos: on the 1,200 web photos of
    ``wild`` (happy or neutral) it is right on 0.891 of them against 0.613 for
    ``fer2013``, the same network trained on FER2013's own labels (McNemar p = 3e-71):
    it calls neutral faces neutral (recall 0.903 against 0.337), where the
    FER2013-trained model reads many as angry or sad. Use ``fer2013`` to score on
    FER2013's seven labels.
    """

    name = "default"
    requires = ("torch",)
    extra = "deep"
    card = _compact_card(
        "default",
        FERPLUS8,
        _evaluated(
            f"ferengine evaluate default {_FERPLUS} --split PublicTest --json",
            "FER2013 PublicTest, FER+ majority labels, 3,553 faces",
            "2026-12-02",
            accuracy=0.8438,
            balanced_accuracy=0.6534,
            macro_f1=0.6923,
        ),
        wild=0.891,
        training_data=(
            "FER2013 Training relabelled by the FER+ crowd (ten votes a face; Barsoum et al. "
            "2016): 28,388 faces with an emotion plurality (not-a-face and unknown-majority "
            "images dropped), less a stratified 10% held out to choose the training mode "
            "(25,549 trained on); 8 classes with contempt (ferplus8)"
        ),
        training_spec=(
            "benchmarks/models/ferplus-votes.toml (fer2013's compact, width 32, trained "
            "towards each face's distribution of the ten votes, Barsoum et al.'s probability "
            "mode; 60 epochs of AdamW on a one-cycle schedule, lr 3e-3, weight decay 5e-4, the "
            "'fer' augmentation preset, batch 64). Chosen over the majority-label mode "
            "(benchmarks/models/ferplus-majority.toml) by accuracy on the held-out 10% of "
            "Training: 0.8468 against 0.8341. Chosen as the default over fer2013 by the "
            "happy-vs-neutral accuracy on the wild photos: 0.891 against 0.613"
        ),
    )


class Fer2013(PretrainedModel):
    """CNN trained on FER2013's own labels: compact narrow VGG, 48×48 grey faces, 7 classes.

    The model to score on FER2013's seven classes (``fer7``): 0.6835 on PublicTest. On
    real photos its labels are skewed (it reads many neutral faces as angry or sad);
    ``default`` is the same network trained on the FER+ votes.
    """

    name = "fer2013"
    requires = ("torch",)
    extra = "deep"
    card = _compact_card(
        "fer2013",
        FER7,
        _evaluated(
            f"ferengine evaluate fer2013 {_FER2013} --split PublicTest --json",
            "FER2013 PublicTest, 3,589 faces",
            "2026-12-02",
            accuracy=0.6835,
            balanced_accuracy=0.6466,
            macro_f1=0.6582,
        ),
        wild=0.613,
        training_data="FER2013 Training: 28,709 grey 48×48 faces, 7 classes (fer7)",
        training_spec=(
            "benchmarks/models/cnn-fer2013.toml (compact, width 32, 650,407 parameters; 80 "
            "epochs of AdamW on a one-cycle schedule, lr 3e-3, weight decay 5e-4, label "
            "smoothing 0.1, the 'fer' augmentation preset, batch 64): ferengine train "
            "benchmarks/models/cnn-fer2013.toml --out plugins/ferengine_deep/models/fer2013.fer"
        ),
    )

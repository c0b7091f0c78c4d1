"""The pretrained models that ship inside this package, each with its card."""

from __future__ import annotations

from ferengine.labels import FER7
from ferengine.models import Measurement, ModelCard, PretrainedModel

_PUBLICTEST = (
    "ferengine evaluate default --dataset fer2013 --path "
    "/work/shared/data/fer2013/fer2013.csv.gz --split PublicTest --json"
)


class Default(PretrainedModel):
    """The recommended CNN: compact narrow VGG on 48×48 grey faces, trained on FER2013."""

    name = "default"
    requires = ("torch",)
    extra = "deep"
    card = ModelCard(
        package="ferengine_deep",
        file="models/default.fer",
        label_space=FER7.name,
        classes=FER7.names,
        input_size=(48, 48),
        channels=1,
        normalization=(
            "inside the network (cnn normalize='image'): each uint8 crop is scaled to "
            "[0, 1], then to zero mean and unit variance"
        ),
        preprocessing=(
            "grey face crop, square, resized to 48×48 with area interpolation; "
            "ferengine predict widens the detector's box by 20% of its side on every side "
            "(FER2013's crops show the whole head)"
        ),
        training_data="FER2013 Training: 28,709 grey 48×48 faces, 7 classes (fer7)",
        licence=(
            "MIT, as ferengine; the weights are learned from FER2013, whose own terms of "
            "use apply to that data"
        ),
        measurements=(
            Measurement(
                "accuracy", 0.6835, "FER2013 PublicTest, 3,589 faces", _PUBLICTEST, "2026-11-23"
            ),
            Measurement(
                "balanced accuracy",
                0.6466,
                "FER2013 PublicTest, 3,589 faces",
                _PUBLICTEST,
                "2026-11-23",
            ),
            Measurement(
                "macro-F1", 0.6582, "FER2013 PublicTest, 3,589 faces", _PUBLICTEST, "2026-11-23"
            ),
        ),
        training_spec=(
            "benchmarks/models/cnn-default.toml (compact, width 32, 650,407 parameters; 80 "
            "epochs of AdamW on a one-cycle schedule, lr 3e-3, weight decay 5e-4, label "
            "smoothing 0.1, the 'fer' augmentation preset, batch 64): ferengine train "
            "benchmarks/models/cnn-default.toml --out plugins/ferengine_deep/models/default.fer"
        ),
    )

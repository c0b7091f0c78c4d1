"""Entry point of the built-in classical features and classifiers."""

from ferengine import hookimpl
from ferengine_classic.classifiers.boosting import XGBoost
from ferengine_classic.classifiers.kernel_svm import SVMKernel
from ferengine_classic.classifiers.local import LocalSVM
from ferengine_classic.classifiers.logistic import Logistic
from ferengine_classic.classifiers.mlp import MLP
from ferengine_classic.classifiers.neighbors import KNN
from ferengine_classic.classifiers.svm import SVMRBF, SVMLinear
from ferengine_classic.classifiers.trees import DecisionTree, ExtraTrees, RandomForest
from ferengine_classic.features.bovw import BoVW
from ferengine_classic.features.concat import Concat
from ferengine_classic.features.gabor import Gabor
from ferengine_classic.features.hog import HOG
from ferengine_classic.features.landmarks import Landmarks
from ferengine_classic.features.lbp import LBP
from ferengine_classic.features.pixels import Pixels
from ferengine_classic.features.temporal import FrameFeatures, TemporalPool


@hookimpl
def ferengine_register_features():
    """Register the built-in feature extractors."""
    return [Pixels, LBP, HOG, Gabor, Landmarks, BoVW, Concat, FrameFeatures, TemporalPool]


@hookimpl
def ferengine_register_classifiers():
    """Register the built-in classifiers."""
    return [
        Logistic, SVMLinear, SVMRBF, SVMKernel, DecisionTree, RandomForest, ExtraTrees,
        XGBoost, KNN, MLP, LocalSVM,
    ]  # fmt: skip

"""The module named in this package's ``ferengine`` entry point: one hook per kind."""

from ferengine import hookimpl
from ferengine_example.arousal import Arousal3
from ferengine_example.block_means import BlockMeans
from ferengine_example.centre_square import CentreSquare
from ferengine_example.contrast_stretch import ContrastStretch
from ferengine_example.csv_faces import CsvFaces
from ferengine_example.gaussian_noise import GaussianNoise
from ferengine_example.mean_face import MeanFace5
from ferengine_example.nearest_mean import NearestMean


@hookimpl
def ferengine_register_datasets():
    """Register this package's dataset loaders."""
    return [CsvFaces]


@hookimpl
def ferengine_register_preprocessors():
    """Register this package's preprocessors."""
    return [ContrastStretch]


@hookimpl
def ferengine_register_augmenters():
    """Register this package's augmenters."""
    return [GaussianNoise]


@hookimpl
def ferengine_register_features():
    """Register this package's feature extractors."""
    return [BlockMeans]


@hookimpl
def ferengine_register_classifiers():
    """Register this package's classifiers."""
    return [NearestMean]


@hookimpl
def ferengine_register_detectors():
    """Register this package's face detectors."""
    return [CentreSquare]


@hookimpl
def ferengine_register_landmarkers():
    """Register this package's landmarkers."""
    return [MeanFace5]


@hookimpl
def ferengine_register_label_spaces():
    """Register this package's label spaces."""
    return [Arousal3]

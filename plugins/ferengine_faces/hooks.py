"""Entry point of the built-in face detectors, landmarkers and the alignment preprocessor."""

from ferengine import hookimpl
from ferengine_faces.align import Align
from ferengine_faces.blazeface import BlazeFaceDetector
from ferengine_faces.detectors import DlibHOGDetector, DlibMMODDetector, HaarDetector, NoDetector
from ferengine_faces.landmarkers import Dlib5, Dlib68
from ferengine_faces.multistage import AutoDetector


@hookimpl
def ferengine_register_detectors():
    """Register the built-in face detectors."""
    return [
        AutoDetector,
        BlazeFaceDetector,
        HaarDetector,
        DlibHOGDetector,
        DlibMMODDetector,
        NoDetector,
    ]


@hookimpl
def ferengine_register_landmarkers():
    """Register dlib's shape predictors."""
    return [Dlib68, Dlib5]


@hookimpl
def ferengine_register_preprocessors():
    """Register landmark alignment."""
    return [Align]

"""Entry point of the built-in preprocessors."""

from ferengine import hookimpl
from ferengine_preprocess.geometry import Crop, Resize
from ferengine_preprocess.intensity import CLAHE, Grey, HistEq, Standardize
from ferengine_preprocess.neutral_trim import TrimNeutral
from ferengine_preprocess.normalize import PixelNormalize


@hookimpl
def ferengine_register_preprocessors():
    """Register the built-in preprocessors."""
    return [Grey, Resize, Crop, HistEq, CLAHE, Standardize, PixelNormalize, TrimNeutral]

"""Entry point of the built-in dataset plugins and the label spaces of their labels."""

from ferengine import hookimpl
from ferengine.labels import BUILTIN_LABEL_SPACES
from ferengine_datasets.affectnet import AffectNet
from ferengine_datasets.ckplus import CKPlus
from ferengine_datasets.fer2013 import FER2013
from ferengine_datasets.image_folder import ImageFolder
from ferengine_datasets.jaffe import JAFFE
from ferengine_datasets.synthetic import SyntheticFaces


@hookimpl
def ferengine_register_datasets():
    """Register the built-in datasets."""
    return [SyntheticFaces, FER2013, ImageFolder, CKPlus, JAFFE, AffectNet]


@hookimpl
def ferengine_register_label_spaces():
    """Register the built-in label spaces (defined in :mod:`ferengine.labels`)."""
    return list(BUILTIN_LABEL_SPACES)

"""Entry point of the built-in dataset plugins and the label spaces of their labels."""

from ferengine import hookimpl
from ferengine.labels import BUILTIN_LABEL_SPACES
from ferengine_datasets.affectnet import AffectNet
from ferengine_datasets.ckplus import CKPlus, CKPlusSequences
from ferengine_datasets.fer2013 import FER2013
from ferengine_datasets.image_folder import ImageFolder
from ferengine_datasets.jaffe import JAFFE
from ferengine_datasets.synthetic import SyntheticFaces
from ferengine_datasets.synthetic_sequences import Fer7Dynamics, SyntheticSequences
from ferengine_datasets.video_folder import VideoFolder


@hookimpl
def ferengine_register_datasets():
    """Register the built-in datasets."""
    return [
        SyntheticFaces,
        SyntheticSequences,
        FER2013,
        ImageFolder,
        CKPlus,
        CKPlusSequences,
        VideoFolder,
        JAFFE,
        AffectNet,
    ]


@hookimpl
def ferengine_register_label_spaces():
    """Register the built-in label spaces (:mod:`ferengine.labels`) and ``fer7-dynamics``."""
    return [*BUILTIN_LABEL_SPACES, Fer7Dynamics]

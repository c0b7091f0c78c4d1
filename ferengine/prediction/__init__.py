"""Faces in the wild: detect, align and classify every face of photos, folders and videos.

:func:`predict` is the Python API and ``ferengine predict`` the command; both find
faces with a detector plugin, crop them as the model's training crops were framed,
and run the saved model — whose own preprocessing steps (alignment, say) travel inside
it, so training and prediction cannot drift apart.
"""

from ferengine.prediction.predictor import FacePredictor
from ferengine.prediction.run import predict

__all__ = ["FacePredictor", "predict"]

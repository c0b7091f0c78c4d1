"""Write the example input of the "Predicting on photos and video" page: scene.png.

Two faces of ferengine's synthetic dataset (procedurally drawn, no personal data),
upsampled and placed on a 640×480 background.

Usage: python docs/examples/predict_scene.py [OUT.png]
"""

import sys

import cv2
import numpy as np

import ferengine

ds = ferengine.load_dataset("synthetic", n_subjects=2, per_expression=1, size=64, seed=1)
happy, surprise = (
    ds.images[ds.labels == ds.label_space.index(n)][0] for n in ("happy", "surprise")
)
rng = np.random.default_rng(0)
scene = cv2.resize(
    rng.integers(60, 190, (6, 8), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_CUBIC
)
for face, (x, y, side) in ((happy, (30, 150, 190)), (surprise, (410, 110, 190))):
    scene[y : y + side, x : x + side] = cv2.resize(
        face, (side, side), interpolation=cv2.INTER_CUBIC
    )
cv2.imwrite(sys.argv[1] if len(sys.argv) > 1 else "scene.png", scene)

"""Draw what three hand-crafted features compute on four FER2013 PublicTest faces.

Each row: the face, its 68 dlib landmarks with the segments whose lengths are features
(``landmarks``), HOG's cell orientation histograms (``hog``, cell 6, FER2013's
``classical-best`` setting) and each pixel's LBP bin (``lbp``, 59 uniform patterns) —
the ``feature_view`` each feature draws for ``ferengine explain --method feature-view``,
enlarged without smoothing.

Usage: python docs/examples/feature_views.py FER2013_CSV [--out PNG] [--faces 4]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

import ferengine
from ferengine import registry

SCALE = 3  # 48 px faces drawn at 144 px
COLUMNS = ("face", "landmarks", "hog (cell 6)", "lbp codes")


def main() -> None:
    """Write the picture."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv")
    parser.add_argument("--out", default="docs/assets/explain-feature-views.png")
    parser.add_argument("--faces", type=int, default=4)
    args = parser.parse_args()
    test = ferengine.load_dataset("fer2013", path=args.csv, usage=("PublicTest",))
    faces = test.images[: args.faces]
    hog = registry.create("feature", "hog", cell=6).fit(faces)
    lbp = registry.create("feature", "lbp").fit(faces)
    views = [
        faces / 255.0,
        registry.create("feature", "landmarks").feature_view(faces),
        hog.feature_view(faces),
        lbp.feature_view(faces),
    ]
    views[2] = views[2] / np.maximum(views[2].max(axis=(1, 2), keepdims=True), 1e-12)
    rows = [np.hstack([v[i] for v in views]) for i in range(len(faces))]
    grid = (np.vstack(rows) * 255).astype(np.uint8)
    grid = cv2.resize(grid, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    header = np.full((24, grid.shape[1]), 30, np.uint8)
    side = 48 * SCALE
    for k, name in enumerate(COLUMNS):
        cv2.putText(header, name, (k * side + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 235, 1,
                    cv2.LINE_AA)  # fmt: skip
    cv2.imwrite(args.out, np.vstack([header, grid]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

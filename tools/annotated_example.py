"""Write the annotated example images of the docs' "Predicting on photos and video" page.

Six photos of the ``wild`` collection (Apache-2.0, see ``../shared/data/README.md``) are
composed into one "group" picture, faces of different sizes on a grey background; the
default model (and the default detector, unless ``--detector`` names one) finds and
classifies the faces, and the annotated picture is written twice: compact labels
(``predict-example.jpg``) and with the bars panel (``predict-example-bars.jpg``).

Usage: python tools/annotated_example.py [--data WILD_FOLDER] [--out docs/assets]
                                         [--detector NAME]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

import ferengine
from ferengine.prediction.annotate import annotate

ROOT = Path(__file__).resolve().parents[1]
#: The photos and where they go: file, side in pixels, top-left corner.
LAYOUT = (
    ("Aaron_Peirsol_0001.jpg", 380, (30, 40)),
    ("Abdulaziz_Kamilov_0001.jpg", 250, (430, 30)),
    ("Alexandra_Stevenson_0003.jpg", 300, (700, 90)),
    ("Ahmed_Lopez_0001.jpg", 210, (60, 450)),
    ("Alexander_Downer_0001.jpg", 330, (300, 330)),
    ("Aicha_El_Ouafi_0003.jpg", 260, (660, 420)),
)
SIZE = (720, 1030)  # height, width


def group_picture(folder: Path) -> np.ndarray:
    """Return the RGB group picture composed from the ``LAYOUT`` photos in ``folder``."""
    rng = np.random.default_rng(0)
    background = rng.integers(150, 200, (4, 6), dtype=np.uint8)
    picture = cv2.resize(background, SIZE[::-1], interpolation=cv2.INTER_CUBIC)
    for name, side, (x, y) in LAYOUT:
        photo = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
        if photo is None:
            raise FileNotFoundError(f"{folder / name}: missing or unreadable (--data: wild/img)")
        photo = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
        picture[y : y + side, x : x + side] = photo
    return cv2.cvtColor(picture, cv2.COLOR_GRAY2RGB)


def main() -> None:
    """Compose the group picture, predict on it and write the two annotated copies."""
    data = Path(os.environ.get("FERENGINE_DATA", ROOT.parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=data / "wild" / "img")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "assets")
    parser.add_argument("--detector", default=None, help="default: ferengine.predict's")
    args = parser.parse_args()
    picture = group_picture(args.data)
    detector = {} if args.detector is None else {"detector": args.detector}
    (row,) = ferengine.predict(picture, model="default", **detector)
    args.out.mkdir(parents=True, exist_ok=True)
    for bars, name in ((False, "predict-example.jpg"), (True, "predict-example-bars.jpg")):
        cv2.imwrite(str(args.out / name), annotate(picture, row["faces"], bars=bars),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])  # fmt: skip
        print(f"{args.out / name}: {len(row['faces'])} faces")


if __name__ == "__main__":
    main()

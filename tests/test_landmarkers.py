"""The landmarker plugin kind: a fake installed landmarker used through Python, TOML and the
CLI, and the built-in dlib landmarkers on real face crops."""

import json
import warnings

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine import registry
from ferengine.cli import main
from ferengine.faces import Landmarker, largest_face, whole_image
from ferengine.spec import load_spec, train

from .conftest import shared_data_dir

# the landmarks feature and align declare dlib (their default landmarker's need)
pytest.importorskip("dlib", reason="landmarkers need the landmarks extra")

FAKE_SRC = '''
import numpy as np
import ferengine
from ferengine.faces import Landmarker

#: Fixed points as fractions of the box: any 68 distinct points give finite geometry;
#: the eyes (36-41 and 42-47) sit level, apart, left and right, as align wants them.
UNIT = np.random.default_rng(0).uniform(0.1, 0.9, (68, 2))
UNIT[36:42] = [0.3, 0.4] + 0.05 * UNIT[36:42]
UNIT[42:48] = [0.7, 0.4] + 0.05 * UNIT[42:48]

class Dots(Landmarker):
    """Fixed dots scaled into each box (a test double)."""
    name = "fake-dots"
    n_points = 68
    layout = "ibug-68"
    left_eye = tuple(range(36, 42))
    right_eye = tuple(range(42, 48))
    def __init__(self, shrink=1.0):
        self.shrink = shrink
    def _locate(self, grey, box):
        x, y, w, h = box
        return np.array([x, y]) + self.shrink * UNIT * np.array([w, h])

@ferengine.hookimpl
def ferengine_register_landmarkers():
    return [Dots]
'''


def unit_points():
    import fakeplug_dots

    return fakeplug_dots.UNIT


@pytest.fixture
def fake(make_dist, fresh_registry):
    """Install a fake package registering landmarker ``fake-dots``; the registry sees it."""
    make_dist("fakeplug-dots", {"dots": "fakeplug_dots"}, {"fakeplug_dots.py": FAKE_SRC})
    return "fake-dots"


@pytest.fixture(scope="module")
def faces():
    return ferengine.load_dataset("synthetic", n_subjects=2, per_expression=1, size=40).images


def test_fake_landmarker_through_python(fake, faces):
    dots = registry.create("landmarker", fake, shrink=0.5)
    assert isinstance(dots, Landmarker)
    boxes = np.array([(10, 20, 40, 30), (0, 0, 8, 8)])
    points = dots.locate(np.zeros((100, 100, 3), np.uint8), boxes)
    assert points.shape == (2, 68, 2) and points.dtype == np.float64
    np.testing.assert_allclose(points[0], [10, 20] + 0.5 * unit_points() * [40, 30])
    with pytest.raises(ValueError, match="no area"):
        dots.locate(np.zeros((10, 10), np.uint8), [(0, 0, 0, 5)])

    feature = registry.create("feature", "landmarks", landmarker=fake).fit(faces)
    np.testing.assert_allclose(
        feature.landmarks(faces), np.broadcast_to(unit_points() * 40, (len(faces), 68, 2)),
        rtol=1e-6,
    )  # fmt: skip
    rows = feature.transform(faces)
    assert rows.shape == (len(faces), 178) and np.isfinite(rows).all()
    assert np.ptp(rows, axis=0).max() < 1e-5  # the same dots in every image


def test_fake_landmarker_through_align_and_predict(fake, faces, model_file):
    from ferengine.prediction.predictor import FacePredictor

    align = registry.create("preprocessor", "align", box="image", landmarker=fake, size=24)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the dots are a plausible face: no fallback
        assert align.fit_transform(faces).shape == (len(faces), 24, 24)
    predictor = FacePredictor(model_file, detector="none", landmarks=fake)
    (found,) = predictor.find(np.zeros((60, 50), np.uint8)).faces
    np.testing.assert_allclose(found.landmarks, unit_points() * [50, 60])
    assert FacePredictor(model_file, detector="none", landmarks=False).landmarker is None


def test_fake_landmarker_through_a_model_spec(fake, tmp_path):
    path = tmp_path / "dots.toml"
    path.write_text(
        '[dataset]\nname = "synthetic"\nparams = { n_subjects = 2, per_expression = 1, size = 32 }'
        f'\n\n[[steps]]\nname = "landmarks"\nparams = {{ landmarker = "{fake}", parts = '
        '["coords"] }\n\n[[steps]]\nname = "logistic"\n'
    )
    model, _ = train(load_spec(path))
    step = model.steps[0][1]
    assert step.landmarker == fake and step.n_features_out_ == 136
    np.testing.assert_allclose(step.landmarks(np.zeros((1, 32, 32))), [unit_points() * 32])
    path.write_text(path.read_text().replace(fake, "fake-dotz"))
    with pytest.raises(ValueError, match="fake-dotz"):
        train(load_spec(path))  # a misspelt landmarker fails, at the latest when fitting


def test_fake_landmarker_through_the_cli(fake):
    runner = CliRunner()
    listed = runner.invoke(main, ["plugins", "landmarker", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in json.loads(listed.output)}
    assert rows[fake]["package"] == "fakeplug-dots" and rows[fake]["status"] == "ok"
    assert {"dlib-68", "dlib-5"} <= set(rows)
    shown = runner.invoke(main, ["plugins", "show", "landmarker", fake])
    assert shown.exit_code == 0, shown.output
    assert "Fixed dots scaled into each box" in shown.output and "shrink" in shown.output


def test_largest_face_maps_the_upscaled_box_back():
    grey = np.zeros((40, 50), np.uint8)
    assert largest_face(grey, registry.create("detector", "none"), 96) == whole_image(grey.shape)
    assert whole_image(grey.shape) == (0, 0, 50, 40)


# -- dlib's landmarkers on real face crops ------------------------------------------------
DATA = shared_data_dir()


@pytest.fixture(scope="module")
def crops():
    """CK+ crops upsampled to 192×192 (dlib's detector misses 48-px faces)."""
    if DATA is None:
        pytest.skip("../shared/data not found: set FERENGINE_DATA to the real-data folder")
    files = sorted((DATA / "ckplus48").glob("*/*.png"))[::60]
    if not files:
        pytest.skip(f"no CK+48 images under {DATA / 'ckplus48'}")
    return np.stack([cv2.resize(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE), (192, 192),
                                interpolation=cv2.INTER_CUBIC) for f in files])  # fmt: skip


@pytest.mark.parametrize(("name", "n_points"), [("dlib-68", 68), ("dlib-5", 5)])
def test_dlib_landmarkers_place_eyes_apart_and_level(crops, name, n_points):
    landmarker = registry.create("landmarker", name)
    hog = registry.create("detector", "dlib-hog")
    ok = []
    for image in crops:
        box = largest_face(image, hog, 96) or whole_image(image.shape)
        (points,) = landmarker.locate(image, np.array([box]))
        assert points.shape == (n_points, 2)
        left, right = landmarker.eye_centres(points)
        dx, dy = right - left
        eyes = np.array([left, right])  # the jaw and brows may leave a detector's tight box
        inside = ((eyes >= box[:2]) & (eyes <= np.add(box[:2], box[2:]))).all()
        ok.append(inside and 0.25 * box[2] < dx < 0.75 * box[2] and abs(dy) < 0.2 * dx)
    assert np.mean(ok) >= 0.9, f"{name}: {np.mean(ok):.0%} of {len(crops)} crops plausible"


def test_dlib5_agrees_with_dlib68_on_the_eye_centres(crops):
    d68, d5 = (registry.create("landmarker", n) for n in ("dlib-68", "dlib-5"))
    boxes = np.array([whole_image(crops[0].shape)])
    gaps = []
    for image in crops:
        (p68,), (p5,) = d68.locate(image, boxes), d5.locate(image, boxes)
        gaps.append(np.abs(np.subtract(d68.eye_centres(p68), d5.eye_centres(p5))).max())
    assert np.median(gaps) < 4  # pixels, on 192-px crops


def test_align_with_dlib5_levels_eyes_but_has_no_template(crops):
    align = registry.create("preprocessor", "align", landmarker="dlib-5", size=48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert align.fit_transform(crops[:4]).shape == (4, 48, 48)
    template = registry.create("preprocessor", "align", landmarker="dlib-5", method="template")
    with pytest.raises(ValueError, match="nose tip.*'dlib-5'"):
        template.fit_transform(crops[:1])


def test_missing_model_file_is_named(tmp_path):
    lm = registry.create("landmarker", "dlib-5", model_path=str(tmp_path / "none.dat"))
    with pytest.raises(FileNotFoundError, match="dlib-5: no shape predictor model"):
        lm.locate(np.zeros((20, 20), np.uint8), [(0, 0, 20, 20)])

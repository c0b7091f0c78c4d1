"""Annotated images: label placement (pure rectangles), drawing, the bars panel, the wiring."""

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferengine
from ferengine.cli import main
from ferengine.prediction.annotate import (
    AMBER,
    MIN_READABLE,
    PALETTE,
    TEXT_HEIGHT,
    annotate,
    face_colour,
    face_labels,
    label_text,
    line_thickness,
    text_height,
)
from ferengine.prediction.labels_layout import POSITIONS, candidates, inside, overlaps, place_labels

FER7 = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FERPLUS8 = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


def face(box, label="happy", confidence=0.93, **extra):
    """A face record as ``ferengine.predict`` returns it."""
    p = np.full(7, (1 - confidence) / 6)
    p[FER7.index(label if label in FER7 else "happy")] = confidence
    probabilities = dict(zip(FER7, p.round(4).tolist(), strict=True))
    return {"box": list(box), "label": label, "confidence": confidence,
            "probabilities": probabilities, **extra}  # fmt: skip


# --- placement: rectangles only ---------------------------------------------------------------


def grown(rect, gap):
    x, y, w, h = rect
    return x - gap, y - gap, w + 2 * gap, h + 2 * gap


def free_spot_exists(size, width, height, obstacles):
    """Brute force: is there any top-left corner where a ``size`` label overlaps nothing?"""
    lw, lh = size
    if lw > width or lh > height:
        return False
    taken = np.zeros((height, width), np.int32)
    for x, y, w, h in obstacles:
        taken[max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)] = 1
    table = np.pad(taken.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = table[lh:, lw:] - table[:-lh, lw:] - table[lh:, :-lw] + table[:-lh, :-lw]
    return bool((sums == 0).any())


IMAGE_SIZES = [(300, 225), (300, 300), (225, 300), (640, 480), (4000, 3000), (3000, 4000)]


@st.composite
def layouts(draw):
    """An image size, 1–20 square faces (often on an edge or partly outside) and label sizes."""
    width, height = draw(st.sampled_from(IMAGE_SIZES))
    long = max(width, height)
    n = draw(st.integers(1, 20))
    boxes, sizes = [], []
    for _ in range(n):
        largest = min(width, height) // draw(st.sampled_from([2, 4, 8]))
        side = draw(st.integers(max(16, long // 30), largest))
        edge_x = st.sampled_from([0, width - side, -side // 3, width - 2 * side // 3])
        edge_y = st.sampled_from([0, height - side, -side // 3, height - 2 * side // 3])
        x = draw(st.one_of(st.integers(0, width - side), edge_x))
        y = draw(st.one_of(st.integers(0, height - side), edge_y))
        boxes.append((x, y, side, side))
        chars = draw(st.integers(6, 17))  # "sad 0.51" … "#12 surprise 0.93"
        cap = float(np.clip(0.01 * long + 0.04 * side, 10, 56))
        smallest = max(7.0, 0.006 * long)
        caps = [cap]
        while caps[-1] * 0.85 > smallest:
            caps.append(caps[-1] * 0.85)
        caps.append(smallest)
        sizes.append([(round((0.83 * chars + 0.6) * c), round(1.85 * c)) for c in caps])
    gap = draw(st.integers(0, 3))
    return width, height, boxes, sizes, gap


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_labels_stay_inside_and_overlap_only_when_no_free_spot_exists(layout):
    width, height, boxes, sizes, gap = layout
    placements = place_labels(boxes, sizes, width, height, gap)
    assert len(placements) == len(boxes)
    order = sorted(range(len(boxes)), key=lambda i: -boxes[i][2] * boxes[i][3])
    placed = []
    for i in order:
        where = placements[i]
        assert where.rect[2:] == sizes[i][where.level]
        assert inside(where.rect, width, height)
        labels = [grown(r, gap) for r in placed]
        others = [grown(b, gap) for j, b in enumerate(boxes) if j != i]
        if any(overlaps(where.rect, r) for r in labels):  # only when the image is full
            assert not free_spot_exists(sizes[i][-1], width, height, labels)
        elif any(overlaps(where.rect, b) for b in others):  # other faces: only if unavoidable
            assert not free_spot_exists(sizes[i][-1], width, height, labels + others)
        if where.position == "nearest" or where.leader is not None:
            assert where.level == len(sizes[i]) - 1  # shrunk before leaving the box
        placed.append(where.rect)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(IMAGE_SIZES), st.integers(10, 20), st.data())
def test_crowded_images_keep_labels_apart(size, n, data):
    """10–20 faces on a grid with room between them: labels never touch labels or faces."""
    width, height = size
    cols = 5
    cell_w, cell_h = width // cols, height // 4
    side = min(cell_w, cell_h) // 3
    cells = data.draw(st.permutations(range(cols * 4)))[:n]
    boxes = [((c % cols) * cell_w + cell_w // 3, (c // cols) * cell_h + cell_h // 3, side, side)
             for c in cells]  # fmt: skip
    cap = max(7, 0.006 * max(width, height))
    label = (round(8 * cap), round(1.85 * cap))
    placements = place_labels(boxes, [[label]] * n, width, height, gap=1)
    rects = [p.rect for p in placements]
    for i, rect in enumerate(rects):
        assert inside(rect, width, height)
        assert not any(overlaps(grown(rect, 1), r) for j, r in enumerate(rects) if j != i)
        assert not any(overlaps(rect, b) for j, b in enumerate(boxes) if j != i)


def test_a_lone_face_gets_its_label_right_above_its_box():
    (where,) = place_labels([(100, 100, 80, 80)], [[(60, 16), (40, 10)]], 300, 300)
    assert (where.rect, where.level, where.position, where.leader) == (
        (100, 84, 60, 16), 0, "above", None,
    )  # fmt: skip


def test_labels_of_faces_on_the_edges_stay_inside():
    boxes = [(0, 0, 60, 60), (240, 240, 60, 60), (250, 0, 50, 50), (0, 250, 50, 50)]
    placements = place_labels(boxes, [[(70, 16)]] * 4, 300, 300)
    assert [p.position for p in placements] == ["below", "above", "below", "above"]
    assert placements[2].rect == (230, 50, 70, 16)  # slid left into the image
    assert all(inside(p.rect, 300, 300) for p in placements)


def test_larger_faces_choose_first():
    small, large = (100, 100, 40, 40), (150, 100, 80, 80)  # side by side: one "above" spot
    placements = place_labels([small, large], [[(90, 20)], [(90, 20)]], 300, 300)
    assert [p.position for p in placements] == ["left", "above"]
    assert not overlaps(placements[0].rect, placements[1].rect)


def test_faces_tiling_the_image_get_labels_inside_their_boxes():
    boxes = [(x, y, 100, 100) for y in (0, 100, 200) for x in (0, 100, 200)]
    placements = place_labels(boxes, [[(80, 18)]] * 9, 300, 300)
    assert {p.position for p in placements} <= {"inside-top", "inside-bottom"}
    assert all(p.level == 0 and p.leader is None for p in placements)


def test_labels_shrink_before_leaving_the_box():
    # too wide for the image at full size; the smaller size fits inside the box's top
    (where,) = place_labels([(10, 10, 100, 100)], [[(150, 20), (100, 14)]], 120, 120)
    assert (where.level, where.position, where.rect) == (1, "inside-top", (10, 10, 100, 14))


def test_a_boxed_in_face_gets_the_nearest_free_spot_and_a_leader_line():
    target = (280, 280, 40, 40)
    ring = [(200, 200, 200, 80), (200, 320, 200, 80), (200, 280, 80, 40), (320, 280, 80, 40)]
    placements = place_labels([target, *ring], [[(80, 20)]] + [[(30, 10)]] * 4, 600, 600)
    where = placements[0]
    assert where.position == "nearest" and where.leader is not None
    assert not any(overlaps(where.rect, b) for b in ring)
    assert not any(overlaps(where.rect, p.rect) for p in placements[1:])
    (lx, ly), (bx, by) = where.leader
    x, y, w, h = where.rect
    assert x <= lx <= x + w and y <= ly <= y + h  # starts on the label
    assert 280 <= bx <= 320 and 280 <= by <= 320  # ends on the face's box


def test_an_image_too_small_for_a_label_puts_it_at_the_corner():
    (where,) = place_labels([(0, 0, 40, 40)], [[(90, 20)]], 48, 48)
    assert where.rect == (0, 0, 90, 20) and where.position == "nearest"


def test_candidates_are_named_in_order_of_preference():
    spots = candidates((100, 100, 80, 80), (60, 16), 300, 300)
    assert [name for name, _ in spots] == list(POSITIONS)
    assert dict(spots)["below"] == (100, 180, 60, 16)
    assert dict(spots)["right"] == (180, 100, 60, 16)


def test_sizes_must_be_given_per_box():
    with pytest.raises(ValueError, match="at least one label size per box: 2 boxes"):
        place_labels([(0, 0, 9, 9), (20, 0, 9, 9)], [[(5, 5)], []], 100, 100)


# --- sizes and texts ---------------------------------------------------------------------------


def test_text_and_lines_scale_with_the_image_and_the_face_within_bounds():
    lo, hi = TEXT_HEIGHT
    assert text_height((0, 0, 60, 60), 300, 225) == lo
    small, large = text_height((0, 0, 60, 60), 1200, 900), text_height((0, 0, 300, 300), 1200, 900)
    assert lo < small < large
    assert text_height((0, 0, 1500, 1500), 4000, 3000) == hi
    assert line_thickness(300, 225) == 1 and line_thickness(4000, 3000) == 10
    assert line_thickness(4000, 3000, (0, 0, 50, 50)) == 2  # thin on a small face


@pytest.mark.parametrize(("width", "height"), [(300, 225), (4000, 3000)])
def test_labels_are_readable_at_300_and_4000_px(width, height):
    faces = [face((width // 3, height // 3, width // 5, width // 5))]
    (label,) = face_labels(faces, width, height)
    cap = label.scale * cv2.getTextSize("H", cv2.FONT_HERSHEY_SIMPLEX, 1, 1)[0][1]
    assert max(MIN_READABLE, 0.006 * width) <= cap <= TEXT_HEIGHT[1]
    assert label.placement.level == 0
    crowded = [face((x, y, 30, 30)) for x in range(0, width - 30, 40) for y in (60, 100)][:20]
    caps = [lab.scale * 22 for lab in face_labels(crowded, width, height)]
    assert min(caps) >= 0.95 * max(MIN_READABLE, 0.006 * width)  # shrunk, still readable


def test_label_texts_carry_tracks_and_panel_numbers():
    tracked = face((0, 0, 50, 50), "sad", 0.514, track=3)
    assert label_text(tracked) == "#3 sad 0.51"
    assert label_text(tracked, 2) == "2 #3 sad 0.51"
    labels = face_labels([face((10, 40, 50, 50)), tracked], 300, 300, numbered=True)
    assert [lab.text for lab in labels] == ["1 happy 0.93", "2 #3 sad 0.51"]


def test_uncertain_faces_are_amber_and_classes_keep_their_colour():
    assert face_colour(face((0, 0, 9, 9), "uncertain", 0.3)) == AMBER
    assert face_colour(face((0, 0, 9, 9), "happy")) == PALETTE[FER7.index("happy")]
    assert AMBER not in PALETTE


def test_an_expression_keeps_its_colour_across_label_spaces():
    ferplus = face((0, 0, 9, 9), "happiness")
    ferplus["probabilities"] = dict.fromkeys(FERPLUS8, 0.1)
    assert face_colour(ferplus) == face_colour(face((0, 0, 9, 9), "happy"))
    ferplus["label"] = "neutral"  # first in ferplus8, seventh in fer7: grey in both
    assert face_colour(ferplus) == PALETTE[FER7.index("neutral")] == (200, 200, 200)
    ferplus["label"] = "contempt"
    assert face_colour(ferplus) not in {face_colour(face((0, 0, 9, 9), n)) for n in FER7}
    odd = face((0, 0, 9, 9), "pain")  # no expression name: its place in the class list
    odd["probabilities"] = {"calm": 0.5, "pain": 0.5}
    assert face_colour(odd) == PALETTE[1]
    image = np.full((300, 400, 3), 128, np.uint8)
    faces = [face((40, 60, 100, 100), "uncertain", 0.3), face((240, 60, 100, 100), "sad")]
    out = annotate(image, faces)
    for f, label in zip(faces, face_labels(faces, 400, 300), strict=True):
        x, y, _, _ = label.placement.rect
        colour = face_colour(f)
        assert tuple(out[y + 1, x + 1]) == colour  # the label's fill
        assert tuple(out[f["box"][1] + f["box"][3] // 2, f["box"][0]]) == colour  # the box's side


# --- drawing -----------------------------------------------------------------------------------


def drawn_mask(faces, width, height, numbered):
    """Pixels annotate may change: boxes' outlines, labels, leader lines, landmarks."""
    mask = np.zeros((height, width), bool)
    for f, label in zip(faces, face_labels(faces, width, height, numbered), strict=True):
        x, y, w, h = f["box"]
        t = line_thickness(width, height, f["box"]) + 2
        mask[max(y - t, 0) : y + h + t, max(x - t, 0) : x + w + t] = True
        mask[y + t : y + h - t, x + t : x + w - t] = False
        lx, ly, lw, lh = label.placement.rect
        mask[ly : ly + lh, lx : lx + lw] = True
        if label.placement.leader is not None:
            (ax, ay), (bx, by) = label.placement.leader
            r = line_thickness(width, height) + 3
            mask[min(ay, by) - r : max(ay, by) + r, min(ax, bx) - r : max(ax, bx) + r] = True
        for px, py in f.get("landmarks") or []:
            mask[round(py) - 6 : round(py) + 6, round(px) - 6 : round(px) + 6] = True
    return mask


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)  # RGB noise: any change shows


def test_annotation_keeps_the_size_and_changes_only_drawn_pixels(photo):
    faces = [face((20, 30, 120, 120), landmarks=[[60.0, 80.0], [100.0, 80.0]]),
             face((300, 150, 90, 90), "sad", 0.6, track=7)]  # fmt: skip
    out = annotate(photo, faces)
    assert out.shape == photo.shape and out.dtype == np.uint8  # videos rely on the size
    bgr = photo[..., ::-1]
    untouched = ~drawn_mask(faces, 480, 360, numbered=False)
    assert np.array_equal(out[untouched], bgr[untouched])
    assert not np.array_equal(out, bgr)
    assert tuple(out[80, 60]) == (255, 255, 255)  # a landmark


def test_landmarks_only_when_present(photo):
    flat = np.full_like(photo, 90)
    out = annotate(flat, [face((100, 100, 150, 150), landmarks=None)])
    inner = out[110:240, 110:240]
    assert (inner == 90).all()


def test_bars_panel_widens_the_canvas_and_leaves_the_image_alone(photo):
    faces = [face((20, 30, 120, 120)), face((300, 150, 90, 90), "uncertain", 0.31)]
    out = annotate(photo, faces, bars=True)
    assert out.shape[1] > photo.shape[1] and out.shape[0] >= photo.shape[0]
    image = out[:360, :480]
    untouched = ~drawn_mask(faces, 480, 360, numbered=True)
    assert np.array_equal(image[untouched], photo[..., ::-1][untouched])
    panel = out[:, 480:]
    assert (panel == AMBER).all(axis=-1).any()  # the uncertain face's chip and top bar
    assert (panel == PALETTE[FER7.index("happy")]).all(axis=-1).any()


def test_bars_panel_wraps_many_faces_into_columns():
    image = np.full((3000, 4000, 3), 100, np.uint8)
    one = annotate(image, [face((100, 100, 300, 300))], bars=True)
    many = [face((100 + 300 * (i % 12), 400 * (i // 12) + 100, 250, 250)) for i in range(12)]
    out = annotate(image, many, bars=True)
    assert out.shape[0] == 3000  # columns, not a panel taller than the image
    assert out.shape[1] - 4000 >= 2 * (one.shape[1] - 4000)


def test_bars_panel_taller_than_a_small_image_pads_it_at_the_bottom():
    image = np.full((120, 300, 3), 100, np.uint8)
    out = annotate(image, [face((20, 20, 60, 60))], bars=True)
    assert out.shape[0] > 120 and out.shape[1] > 300
    assert (out[120:, :300] == out[-1, 0]).all()  # the padding: one flat colour
    assert annotate(image, [], bars=True).shape == (120, 300, 3)  # no face: no panel


@pytest.mark.parametrize(
    "image",
    [
        np.full((240, 320), 120, np.uint8),  # grey
        np.full((240, 320, 3), 120, np.uint8),  # RGB
        np.dstack([np.full((240, 320, 3), 120, np.uint8), np.zeros((240, 320), np.uint8)]),  # RGBA
        np.full((240, 320), 120 * 257, np.uint16),  # 16-bit grey
        np.full((240, 320, 3), 120 * 257, np.uint16),  # 16-bit RGB
        np.full((240, 320, 3), 120 / 255, np.float32),  # [0, 1] floats
    ],
    ids=["grey", "rgb", "rgba", "grey16", "rgb16", "float"],
)
def test_every_input_kind_gives_an_8_bit_bgr_canvas(image):
    faces = [face((100, 80, 100, 100))]
    out = annotate(image, faces, bars=True)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[0] == 240 and out.shape[1] > 320
    assert tuple(out[5, 5]) == (120, 120, 120)  # converted, not rescaled
    label = face_labels(faces, 320, 240, numbered=True)[0].placement.rect
    assert tuple(out[label[1] + 1, label[0] + 1]) == PALETTE[FER7.index("happy")]


# --- wiring ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crop_file(tmp_path_factory):
    ds = ferengine.load_dataset("synthetic", n_subjects=1, per_expression=1, size=48)
    path = tmp_path_factory.mktemp("crops") / "face.png"
    cv2.imwrite(str(path), cv2.resize(ds.images[0], (160, 160), interpolation=cv2.INTER_CUBIC))
    return path


@pytest.mark.slow
def test_predict_and_the_cli_draw_the_bars_panel_on_request(crop_file, model_file, tmp_path):
    for bars in (False, True):
        out = tmp_path / f"bars-{bars}"
        ferengine.predict(crop_file, model=str(model_file), detector="none", out=out, bars=bars)
        (copy,) = (out / "annotated").iterdir()
        assert (cv2.imread(str(copy)).shape[1] > 160) is bars
    out = tmp_path / "cli"
    args = ["predict", str(crop_file), "--model", str(model_file), "--detector", "none"]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--bars", "--json"])
    assert result.exit_code == 0, result.output
    (copy,) = (out / "annotated").iterdir()
    assert cv2.imread(str(copy)).shape[1] > 160

"""Tests of lineageflow.annotations (GT-derived and CSV annotations for the object classifiers)."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import require_shared

from lineageflow.annotations import (
    ANNOTATION_COLUMNS,
    annotations_from_gt,
    annotations_from_gt_dir,
    check_same_dataset,
    dividing_parents,
    read_annotation_csv,
    read_man_track,
    targets,
)
from lineageflow.errors import InputError
from lineageflow.features import object_features

SHAPE = (40, 60)


def _disk(img, cy, cx, r, value):
    yy, xx = np.indices(img.shape[-2:])
    img[..., (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value
    return img


def _marker(img, cy, cx, value, half=1):
    img[cy - half: cy + half + 1, cx - half: cx + half + 1] = value  # 3x3 marker
    return img


def _table(labels, frame):
    return object_features(labels, np.ones(labels.shape), frame=frame, voxel_size=(1.0,) * labels.ndim)


# --- counts ------------------------------------------------------------------------------------------------------

def _count_scene():
    ours = np.zeros(SHAPE, np.uint16)
    gt = np.zeros(SHAPE, np.uint16)
    _disk(ours, 10, 10, 5, 1)       # one cell
    _marker(gt, 10, 10, 1)
    ours[20:30, 5:30] = 2           # a merger covering two markers
    _marker(gt, 25, 10, 2)
    _marker(gt, 25, 24, 3)
    _disk(ours, 30, 50, 4, 3)       # a false detection: no GT
    ours[5:8, 41:43] = 4            # covers 2 columns (6 of 9 px) of marker 4 ...
    _marker(gt, 6, 42, 4)
    ours[5:8, 43:44] = 5            # ... and its last column (3 px)
    ours[12:15, 40:42] = 6          # covers only 4 of 9 px of marker 5: not matched (CTC: > 50 %)
    _marker(gt, 13, 41, 5)
    ours[14, 41] = 0
    ours[14, 40] = 0
    return ours, gt


def test_counts_from_gt():
    ours, gt = _count_scene()
    table = _table(ours, 0)
    ann = annotations_from_gt(ours, gt, table, dividing={})
    assert list(ann.index.names) == ["frame", "label"]
    assert ann["count"].to_dict() == {(0, 1): 1, (0, 2): 2, (0, 3): 0, (0, 4): 1, (0, 5): 0, (0, 6): 0}
    assert ann.loc[(0, 1), "gt_label"] == 1 and ann.loc[(0, 2), "gt_label"] == 0
    assert (ann["division"] == 0).all()


def test_counts_shape_and_table_mismatch():
    ours, gt = _count_scene()
    table = _table(ours, 0)
    with pytest.raises(InputError, match="differs from the GT TRA shape"):
        annotations_from_gt(ours, gt[:-1], table, dividing={})
    other = ours.copy()
    other[other == 3] = 0
    with pytest.raises(InputError, match=r"label\(s\) \[3\] that are not in the label image"):
        annotations_from_gt(other, gt, table, dividing={})


# --- man_track.txt and divisions ----------------------------------------------------------------------------------

MAN_TRACK = """1 0 2 0
2 3 4 1
3 3 4 1
4 0 1 0
5 4 4 4
6 4 4 4
7 0 2 0
8 3 4 7
"""


def test_read_man_track_and_dividing_parents(tmp_path):
    p = tmp_path / "man_track.txt"
    p.write_text(MAN_TRACK.replace("\n", "\r\n"))  # CTC files may have CRLF line ends
    mt = read_man_track(p)
    assert list(mt.columns) == ["L", "B", "E", "P"] and len(mt) == 8
    assert all(str(t) == "int64" for t in mt.dtypes)
    # track 4 divides at its end frame 1 although its daughters start at frame 4 (Fluo-N3DH-CHO style);
    # track 7 has a single child (a gap): not a division unless asked for
    assert dividing_parents(mt) == {1: 2, 4: 1}
    assert dividing_parents(mt, min_children=1) == {1: 2, 4: 1, 7: 2}


@pytest.mark.parametrize("text, msg", [
    ("1 0 2\n", "line 1: expected 4 numbers"),
    ("1 0 2 0\n2 a 3 1\n", "line 2: expected 4 integers"),
    ("1 3 2 0\n", "line 1: invalid track"),
    ("1 0 2 0\n1 3 4 0\n", "track 1 is listed more than once"),
    ("1 0 2 0\n2 3 4 9\n", "track 2 has parent 9, which is not a track"),
])
def test_read_man_track_errors(tmp_path, text, msg):
    p = tmp_path / "man_track.txt"
    p.write_text(text)
    with pytest.raises(InputError, match=msg) as e:
        read_man_track(p)
    assert str(p) in str(e.value)
    with pytest.raises(InputError, match="cannot read"):
        read_man_track(tmp_path / "missing.txt")


def _division_movie():
    """5 frames: GT tracks of MAN_TRACK as disks (ours: label = GT + 10) and 3x3 markers (GT TRA)."""
    mt = np.loadtxt(MAN_TRACK.splitlines(), dtype=int)
    centre = {1: (10, 10), 2: (6, 10), 3: (14, 10), 4: (10, 30), 5: (6, 30), 6: (14, 30),
              7: (30, 50), 8: (30, 50)}
    ours, gts = {}, {}
    for t in range(5):
        o = np.zeros(SHAPE, np.uint16)
        g = np.zeros(SHAPE, np.uint16)
        for lab, b, e, _ in mt:
            if b <= t <= e:
                cy, cx = centre[lab]
                _disk(o, cy, cx, 3, lab + 10)
                _marker(g, cy, cx, lab)
        _disk(o, 35, 5, 2, 99)  # a false detection in every frame
        ours[t], gts[t] = o, g
    return ours, gts


def test_divisions_at_parent_end():
    ours, gts = _division_movie()
    dividing = {1: 2, 4: 1}
    found = {}
    for t in range(5):
        ann = annotations_from_gt(ours[t], gts[t], _table(ours[t], t), dividing=dividing)
        found.update({k: v for k, v in ann["division"].items() if v})
        assert ann.loc[(t, 99), "count"] == 0
    assert found == {(2, 11): 1, (1, 14): 1}


def test_annotations_from_gt_dir(tmp_path):
    ours, gts = _division_movie()
    gt_dir = tmp_path / "01_GT"
    (gt_dir / "TRA").mkdir(parents=True)
    (gt_dir / "TRA" / "man_track.txt").write_text(MAN_TRACK)
    for t, g in gts.items():
        tifffile.imwrite(gt_dir / "TRA" / f"man_track{t:03d}.tif", g)
    table = pd.concat([_table(ours[t], t) for t in range(5)], ignore_index=True)
    ann = annotations_from_gt_dir(gt_dir, range(5), ours.__getitem__, table)
    assert list(ann.columns) == ANNOTATION_COLUMNS
    assert len(ann) == 2 * len(table)
    div = ann[(ann.kind == "division") & (ann.value == 1)]
    assert sorted(zip(div.frame, div.label)) == [(1, 14), (2, 11)]
    cnt = targets(ann, table, "count")
    assert np.array_equal(cnt, np.where(table["label"] == 99, 0, 1))
    with pytest.raises(InputError, match="no TRA mask for frame 7"):
        annotations_from_gt_dir(gt_dir, [7], ours.__getitem__, table)


def test_real_sim_plus_gt_matches_man_track():
    seq = require_shared("Fluo-N2DH-SIM+", "01")
    gt_dir = seq.with_name("01_GT")
    mt = read_man_track(gt_dir / "TRA" / "man_track.txt")
    dividing = dividing_parents(mt)
    n = 10
    found = set()
    for t in range(n):
        seg = tifffile.imread(gt_dir / "SEG" / f"man_seg{t:03d}.tif")
        tra = tifffile.imread(gt_dir / "TRA" / f"man_track{t:03d}.tif")
        ann = annotations_from_gt(seg, tra, _table(seg, t), dividing=dividing)
        assert (ann["count"] == 1).all(), f"frame {t}"
        found |= set(ann.loc[ann["division"] == 1, "gt_label"].map(lambda g, t=t: (int(g), t)))
    expected = {(p, e) for p, e in dividing.items() if e < n}
    assert expected and found == expected


# --- CSV ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def movie():
    """3 frames of 2D labels with labels 1, 2 (frame 0-2) and 3 (frame 1 only)."""
    labels = {}
    for t in range(3):
        lab = np.zeros(SHAPE, np.uint16)
        _disk(lab, 10, 10 + t, 4, 1)
        _disk(lab, 25, 40, 5, 2)
        if t == 1:
            _disk(lab, 32, 10, 3, 3)
        labels[t] = lab
    table = pd.concat([_table(labels[t], t) for t in range(3)], ignore_index=True)
    return labels, table


def _csv(tmp_path, text, name="ann.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_by_label(tmp_path, movie):
    labels, table = movie
    p = _csv(tmp_path, "# my annotations\nFrame,Label,Class\n0,1,division\n\n1,3,2\n1,3,no_division\n"
                       "2,2,false_detection\n2,2,0\n0,2,Not-Dividing\n")
    ann = read_annotation_csv(p, table, n_frames=3)
    assert list(ann.columns) == ANNOTATION_COLUMNS
    got = sorted(zip(ann.frame, ann.label, ann.kind, ann.value))
    assert got == [(0, 1, "division", 1), (0, 2, "division", 0), (1, 3, "count", 2), (1, 3, "division", 0),
                   (2, 2, "count", 0)]
    div = targets(ann, table, "division")
    assert np.isnan(div).sum() == len(table) - 3
    assert div[((table.frame == 0) & (table.label == 1)).to_numpy()][0] == 1
    # a list of per-chunk tables works too
    assert read_annotation_csv(p, [table[table.frame < 2], table[table.frame == 2]]).equals(ann)


def test_csv_by_position_2d_and_3d(tmp_path, movie):
    labels, table = movie
    p = _csv(tmp_path, "frame,x,y,class\n0,10.4,10,1\n1,10,32,division\n")
    ann = read_annotation_csv(p, table, labels=labels)
    assert sorted(zip(ann.frame, ann.label, ann.kind, ann.value)) == [(0, 1, "count", 1), (1, 3, "division", 1)]
    # a callable label_at(frame, z, y, x)
    ann2 = read_annotation_csv(p, table, labels=lambda t, z, y, x: labels[t][y, x])
    assert ann2.equals(ann)
    # 3D
    lab3 = np.zeros((4,) + SHAPE, np.uint16)
    lab3[2, 5:9, 5:9] = 7
    t3 = object_features(lab3, np.ones(lab3.shape), frame=0, voxel_size=(2.0, 1.0, 1.0))
    p3 = _csv(tmp_path, "frame,x,y,z,class\n0,6,7,2,1\n", "a3.csv")
    ann3 = read_annotation_csv(p3, t3, labels={0: lab3})
    assert list(zip(ann3.label, ann3.kind, ann3.value)) == [(7, "count", 1)]
    p3b = _csv(tmp_path, "frame,x,y,class\n0,6,7,1\n", "a3b.csv")
    with pytest.raises(InputError, match=r"a3b.csv line 2: the data are 3D; position rows need a 'z'"):
        read_annotation_csv(p3b, t3, labels={0: lab3})


@pytest.mark.parametrize("text, msg", [
    ("frame,label,class\n0,1,1\n0,5,1\n", r"line 3: frame 0 has no object with label 5"),
    ("frame,label,class\n7,1,1\n", r"line 2: frame 7 is out of range \(the movie has frames 0..2\)"),
    ("frame,label,class\n-1,1,1\n", r"line 2: frame -1 is out of range"),
    ("frame,x,y,class\n\n0,50,2,1\n", r"line 3: position \(x=50, y=2\) in frame 0 is on background"),
    ("frame,x,y,class\n0,70,2,1\n", r"line 2: position \(x=70, y=2\) is outside the image"),
    ("frame,lable,class\n0,1,1\n", r"line 1: unknown column\(s\) \['lable'\]"),
    ("frame,label\n0,1\n", r"line 1: the header needs columns 'frame' and 'class'"),
    ("frame,label,x,y,class\n0,1,1,1,1\n", r"line 1: give the object either by 'label' or by position"),
    ("frame,x,class\n0,1,1\n", r"line 1: position columns need both 'x' and 'y'"),
    ("frame,label,class\n0,1,mitosis\n", r"line 2: class 'mitosis' is not one of"),
    ("frame,label,class\n0,1,-1\n", r"line 2: class '-1' is not one of"),
    ("frame,label,class\n0,1.5,1\n", r"line 2: label '1.5' is not an integer"),
    ("frame,label,class\n0,1\n", r"line 2: 2 fields, but the header has 3"),
    ("frame,label,class\n0,1,1\n0,1,2\n", r"line 3: contradicts line 2"),
    ("", r"annotation CSV is empty"),
])
def test_csv_errors_name_file_and_line(tmp_path, movie, text, msg):
    labels, table = movie
    p = _csv(tmp_path, text, "bad_annotations.csv")
    with pytest.raises(InputError, match=msg) as e:
        read_annotation_csv(p, table, labels=labels, n_frames=3)
    assert "bad_annotations.csv" in str(e.value)


def test_csv_missing_file_and_frame_without_table(tmp_path, movie):
    labels, table = movie
    with pytest.raises(InputError, match="nope.csv: cannot read"):
        read_annotation_csv(tmp_path / "nope.csv", table)
    p = _csv(tmp_path, "frame,label,class\n2,1,1\n")
    with pytest.raises(InputError, match="line 2: frame 2 has no objects in the object tables"):
        read_annotation_csv(p, table[table.frame < 2])
    p = _csv(tmp_path, "frame,x,y,class\n0,100,100,1\n", "c.csv")
    with pytest.raises(InputError, match="c.csv line 2: position .* is outside the image"):
        read_annotation_csv(p, table, labels=lambda t, z, y, x: labels[t][y, x])


# --- same dataset ------------------------------------------------------------------------------------------------

def test_check_same_dataset():
    a = {"movie": "a.tif", "n_frames": 65, "spatial_shape": [690, 628], "voxel_size": [1.0, 1.0]}
    check_same_dataset(a, dict(a, movie="elsewhere/a.tif", voxel_size=(1, 1)), "t.parquet")
    check_same_dataset(a, {"n_frames": 65}, "t.parquet")  # missing keys are not compared
    b = dict(a, movie="b.tif", spatial_shape=[1024, 1024], n_frames=92)
    with pytest.raises(InputError, match=r"t.parquet: object table comes from another dataset \(b.tif\): "
                                         r"spatial_shape \[690, 628\] vs \[1024, 1024\]; n_frames 65 vs 92"):
        check_same_dataset(a, b, "t.parquet")
    with pytest.raises(InputError, match="voxel_size"):
        check_same_dataset(a, dict(a, voxel_size=[0.5, 0.5]), "t.parquet")

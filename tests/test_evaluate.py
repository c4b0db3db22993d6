"""Evaluation with traccuracy: TRA/DET/LNK and division metrics on generated and real CTC data."""

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
import traccuracy
from conftest import require_shared

from lineageflow.errors import InputError
from lineageflow.evaluate import evaluate_ctc, write_metrics
from lineageflow.export.ctc import read_ctc, write_ctc
from lineageflow.lineage import ctc_to_solution, from_solution

T = 10


def _sequence(false_division=False, drop_link=False, shift=0):
    """Cell 1 (frames 0-4) divides into 2 and 3 (5-9); cell 5 lives 0-9. Optionally a spurious division of
    cell 5 into 5 and 7 at frame 5, a missing link of cell 5 between frames 4 and 5, or all frames shifted."""
    objs = []
    for t in range(T):
        if t < 5:
            objs.append((t, 1, 10, 10 + t))
        else:
            objs += [(t, 2, 4, 10 + t), (t, 3, 18, 10 + t)]
        objs.append((t, 5, 40, 10 + 2 * t))
        if false_division and t >= 6:
            objs.append((t, 7, 54, 40))
    links = [(t, 1, 1) for t in range(4)] + [(4, 1, 2), (4, 1, 3)]
    links += [(t, lab, lab) for t in range(5, T - 1) for lab in (2, 3)]
    links += [(t, 5, 5) for t in range(T - 1) if not (drop_link and t == 4)]
    if false_division:
        links += [(5, 5, 7)] + [(t, 7, 7) for t in range(6, T - 1)]
    n_frames = T + shift
    frames = np.zeros((n_frames, 64, 64), np.uint16)
    for t, lab, y, x in objs:
        frames[t + shift, y : y + 4, x : x + 4] = lab
    nodes = pd.DataFrame(objs, columns=["frame", "label", "y", "x"]).assign(frame=lambda d: d["frame"] + shift)
    edges = pd.DataFrame(links, columns=["frame", "label_src", "label_dst"]).assign(frame=lambda d: d["frame"] + shift)
    return from_solution(nodes, edges), frames


def _write_gt(lineage, frames, gt_dir):
    """A CTC GT folder (TRA/man_trackTTT.tif + man_track.txt) written with our own exporter."""
    tra = write_ctc(lineage, frames, len(frames), gt_dir / "TRA")
    for p in sorted(tra.glob("mask*.tif")):
        p.rename(tra / p.name.replace("mask", "man_track"))
    (tra / "res_track.txt").rename(tra / "man_track.txt")
    return gt_dir


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return _write_gt(*_sequence(), tmp_path_factory.mktemp("gt") / "01_GT")


def test_gt_against_itself(tmp_path, gt):
    pred = write_ctc(*_sequence(), T, tmp_path / "pred")
    m = evaluate_ctc(pred, gt)
    assert m["TRA"] == m["DET"] == m["LNK"] == 1.0
    assert m["division_f1"] == m["division_precision"] == m["division_recall"] == 1.0
    assert m["n_gt_divisions"] == m["n_pred_divisions"] == 1
    assert m["division_f1_fb1"] == 1.0
    assert m["traccuracy_version"] == traccuracy.__version__
    assert m["SEG"] is None and m["seg_gt_objects"] == 0  # this GT has no SEG annotations


def test_seg_from_the_gt_seg_annotations(tmp_path, gt):
    """SEG in the metrics: with SEG/man_segTTT.tif beside TRA, a cell drawn 2 px too wide scores 16/24 in its frames."""
    import shutil

    gt_dir = tmp_path / "01_GT"
    shutil.copytree(gt, gt_dir)
    (gt_dir / "SEG").mkdir()
    for t in (0, 7):
        shutil.copy(gt_dir / "TRA" / f"man_track{t:03d}.tif", gt_dir / "SEG" / f"man_seg{t:03d}.tif")
    lineage, frames = _sequence()
    wide = frames.copy()
    for t in range(T):
        wide[t, 40:44, 10 + 2 * t + 4:10 + 2 * t + 6] = 5  # cell 5: 4x4 px, 2 px more to its right
    m = evaluate_ctc(write_ctc(lineage, wide, T, tmp_path / "pred"), gt_dir)
    # frame 0: cells 1 and 5; frame 7: cells 2, 3 and 5
    assert m["seg_annotations"] == 2 and m["seg_gt_objects"] == 5
    assert m["SEG"] == pytest.approx((3 * 1.0 + 2 * 16 / 24) / 5)
    assert m["DET"] == 1.0  # the CTC detection test is passed all the same


def test_missing_link_lowers_lnk_only(tmp_path, gt):
    pred = write_ctc(*_sequence(drop_link=True), T, tmp_path / "pred")
    m = evaluate_ctc(pred, gt)
    assert m["DET"] == 1.0
    assert m["fn_edges"] == 1 and m["LNK"] < 1.0 and m["TRA"] < 1.0
    assert m["division_f1"] == 1.0


def test_false_division_lowers_division_precision(tmp_path, gt):
    pred = write_ctc(*_sequence(false_division=True), T, tmp_path / "pred")
    m = evaluate_ctc(pred, gt)
    assert m["n_pred_divisions"] == 2 and m["division_fp"] == 1
    assert m["division_precision"] == 0.5 and m["division_recall"] == 1.0
    assert m["division_f1"] == pytest.approx(2 / 3)
    assert m["fp_nodes"] == 4 and m["DET"] < 1.0 and m["TRA"] < 1.0


def test_gt_without_objects_in_frame_0(tmp_path):
    # traccuracy's CTCMatcher misaligns masks and frames when GT starts late; evaluate_ctc corrects that
    lin, frames = _sequence(shift=1)
    gt_dir = _write_gt(lin, frames, tmp_path / "gt")
    m = evaluate_ctc(write_ctc(lin, frames, T + 1, tmp_path / "pred"), gt_dir)
    assert m["TRA"] == m["DET"] == m["LNK"] == m["division_f1"] == 1.0


@pytest.mark.filterwarnings("ignore:Mapping is empty")
def test_empty_prediction(tmp_path, gt):
    empty = from_solution(pd.DataFrame(columns=["frame", "label"]), pd.DataFrame(columns=["frame", "label_src", "label_dst"]))
    pred = write_ctc(empty, np.zeros((T, 64, 64), np.uint16), T, tmp_path / "pred")
    m = evaluate_ctc(pred, gt)
    assert m["TRA"] == m["DET"] == 0.0
    assert m["division_recall"] == 0.0 and m["division_precision"] is None


def test_gt_failing_checks_is_one_input_error(tmp_path):
    lin, frames = _sequence()
    gt_dir = _write_gt(lin, frames, tmp_path / "bad_GT")
    mask = gt_dir / "TRA" / "man_track003.tif"
    img = tifffile.imread(mask)
    img[img == 2] = 0  # track 2 (cell 5) now misses frame 3
    tifffile.imwrite(mask, img)
    pred = write_ctc(lin, frames, T, tmp_path / "pred")
    with pytest.raises(InputError, match=r"ground truth .*bad_GT fails the CTC checks: Missing IDs in masks at t=3"):
        evaluate_ctc(pred, gt_dir)
    with pytest.raises(InputError, match="does not exist"):
        evaluate_ctc(pred, tmp_path / "nowhere")


def test_shape_mismatch(tmp_path, gt):
    lin, frames = _sequence()
    pred = write_ctc(lin, np.pad(frames, ((0, 0), (0, 8), (0, 0))), T, tmp_path / "pred")
    with pytest.raises(InputError, match="shape"):
        evaluate_ctc(pred, gt)


def test_write_metrics(tmp_path):
    path = write_metrics(tmp_path / "m" / "metrics.json", {"b": np.float64(0.25), "a": float("nan"), "n": np.int64(3)})
    text = path.read_text()
    assert json.loads(text) == {"a": None, "b": 0.25, "n": 3}
    assert text.index('"a"') < text.index('"b"')
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_real_gt_round_trip_gives_tra_1(tmp_path):
    """Fluo-N2DH-SIM+ 01_GT read back through our lineage + exporter, evaluated against itself (~10 s)."""
    gt_dir = require_shared("Fluo-N2DH-SIM+", "01_GT")
    tracks, masks = read_ctc(gt_dir / "TRA")
    lin = from_solution(*ctc_to_solution(tracks))
    pred = write_ctc(lin, lambda t: tifffile.imread(masks[t]), len(masks), tmp_path / "pred")
    m = evaluate_ctc(pred, gt_dir)
    assert m["TRA"] == m["DET"] == m["LNK"] == 1.0
    children = tracks.loc[tracks["P"] > 0, "P"].value_counts()
    n_divisions = int((children >= 2).sum())  # parents with two daughters or more (one daughter: a gap, no division)
    assert n_divisions > 0
    assert m["division_f1"] == 1.0 and m["n_gt_divisions"] == m["n_pred_divisions"] == n_divisions

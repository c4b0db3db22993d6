"""Tests of lineageflow.seg_metrics (IoU matching of label images against ground truth, the CTC SEG measure)."""

import numpy as np
import pytest
import tifffile

from lineageflow.errors import InputError
from lineageflow.seg_metrics import ctc_seg, iou_matches, seg_jaccards, summarize


def _square(img, label, y, x, h, w):
    img[y:y + h, x:x + w] = label
    return img


def test_perfect_match():
    gt = np.zeros((20, 20), np.uint16)
    _square(gt, 1, 0, 0, 5, 5)
    _square(gt, 2, 10, 10, 4, 4)
    pred = np.zeros_like(gt)
    _square(pred, 7, 0, 0, 5, 5)   # labels need not be equal
    _square(pred, 3, 10, 10, 4, 4)
    r = iou_matches(pred, gt)
    assert r == {"n_gt": 2, "n_pred": 2, "n_matched": 2, "mean_iou_matched": 1.0}


def test_known_overlaps():
    gt = np.zeros((30, 30), np.uint16)
    _square(gt, 1, 0, 0, 10, 10)    # 100 px
    _square(gt, 2, 15, 15, 10, 10)  # 100 px
    _square(gt, 3, 0, 20, 4, 4)     # 16 px, missed entirely
    pred = np.zeros((30, 30), np.uint32)
    _square(pred, 1, 0, 0, 10, 8)    # 80 px inside GT 1 → IoU 0.8
    _square(pred, 2, 15, 20, 10, 10) # overlaps GT 2 by 50 px → IoU 50 / 150 = 1/3, not matched
    _square(pred, 5, 26, 0, 3, 3)    # false positive
    r = iou_matches(pred, gt)
    assert r["n_gt"] == 3
    assert r["n_pred"] == 3
    assert r["n_matched"] == 1
    assert r["mean_iou_matched"] == pytest.approx(0.8)
    # a lower threshold accepts the 1/3 overlap too
    r = iou_matches(pred, gt, min_iou=0.3)
    assert r["n_matched"] == 2
    assert r["mean_iou_matched"] == pytest.approx((0.8 + 1 / 3) / 2)


def test_iou_exactly_half_is_not_a_match():
    gt = np.zeros((10, 10), np.uint8)
    _square(gt, 1, 0, 0, 2, 10)   # 20 px
    pred = np.zeros_like(gt)
    _square(pred, 1, 0, 0, 1, 10)  # 10 px inside → IoU 0.5
    assert iou_matches(pred, gt)["n_matched"] == 0
    assert iou_matches(pred, gt, min_iou=0.49)["n_matched"] == 1


def test_merged_prediction_matches_at_most_one():
    """One predicted object covering two GT objects matches neither or one, never both (IoU > 0.5)."""
    gt = np.zeros((10, 20), np.uint8)
    _square(gt, 1, 0, 0, 10, 10)
    _square(gt, 2, 0, 10, 10, 2)
    pred = np.zeros_like(gt)
    _square(pred, 1, 0, 0, 10, 12)  # IoU with 1: 100/120, with 2: 20/120
    r = iou_matches(pred, gt)
    assert r["n_matched"] == 1
    assert r["mean_iou_matched"] == pytest.approx(100 / 120)


def test_3d_and_empty():
    gt = np.zeros((3, 6, 6), np.uint16)
    gt[1:3, 1:4, 1:4] = 4
    pred = gt.astype(np.int32) * 2
    assert iou_matches(pred, gt)["n_matched"] == 1
    empty = np.zeros_like(gt)
    assert iou_matches(empty, gt) == {"n_gt": 1, "n_pred": 0, "n_matched": 0, "mean_iou_matched": 0.0}
    assert iou_matches(pred, empty) == {"n_gt": 0, "n_pred": 1, "n_matched": 0, "mean_iou_matched": 0.0}


def test_large_label_values():
    gt = np.zeros((4, 4), np.uint32)
    gt[:2] = 4_000_000_000
    pred = np.zeros((4, 4), np.uint16)
    pred[:2] = 65535
    assert iou_matches(pred, gt)["n_matched"] == 1


def test_summarize():
    frames = [
        {"n_gt": 4, "n_pred": 5, "n_matched": 3, "mean_iou_matched": 0.8},
        {"n_gt": 6, "n_pred": 4, "n_matched": 1, "mean_iou_matched": 0.6},
        {"n_gt": 0, "n_pred": 2, "n_matched": 0, "mean_iou_matched": 0.0},
    ]
    s = summarize(frames)
    assert s["n_frames"] == 3
    assert (s["n_gt"], s["n_pred"], s["n_matched"]) == (10, 11, 4)
    assert s["matched_fraction"] == pytest.approx(0.4)
    assert s["mean_iou_matched"] == pytest.approx((0.8 * 3 + 0.6 * 1) / 4)  # weighted by matches


def test_summarize_empty_and_extra_keys():
    s = summarize([])
    assert s == {"n_gt": 0, "n_pred": 0, "n_matched": 0, "n_frames": 0, "matched_fraction": 0.0,
                 "mean_iou_matched": 0.0}
    s = summarize([{"n_gt": 2, "n_pred": 0, "n_matched": 0, "mean_iou_matched": 0.0, "frame": 7}])
    assert s["matched_fraction"] == 0.0 and s["mean_iou_matched"] == 0.0


def test_summarize_of_iou_matches():
    gt = np.zeros((10, 10), np.uint8)
    _square(gt, 1, 0, 0, 5, 5)
    per_frame = [iou_matches(gt, gt), iou_matches(np.zeros_like(gt), gt)]
    s = summarize(per_frame)
    assert s["matched_fraction"] == 0.5
    assert s["mean_iou_matched"] == 1.0


# --- the CTC SEG measure -------------------------------------------------------------------------------------------

def test_seg_jaccards_by_the_ctc_rule():
    """A GT object counts the Jaccard index of the predicted object covering more than half of it, else 0."""
    gt = np.zeros((30, 30), np.uint16)
    _square(gt, 1, 0, 0, 10, 10)    # 100 px
    _square(gt, 2, 15, 15, 10, 10)  # 100 px
    _square(gt, 3, 0, 20, 4, 4)     # 16 px, missed
    pred = np.zeros((30, 30), np.uint32)
    _square(pred, 4, 0, 0, 10, 12)    # covers all of GT 1, 20 px beyond: J = 100 / 120
    _square(pred, 9, 15, 20, 10, 10)  # covers exactly half of GT 2: not a match (IoU 1/3 is not counted)
    assert seg_jaccards(pred, gt) == pytest.approx([100 / 120, 0.0, 0.0])
    pred[pred == 9] = 0
    _square(pred, 9, 15, 19, 10, 10)  # now 60 px of GT 2: J = 60 / 140, though IoU < 0.5
    assert seg_jaccards(pred, gt) == pytest.approx([100 / 120, 60 / 140, 0.0])
    assert seg_jaccards(np.zeros_like(pred), gt).tolist() == [0.0, 0.0, 0.0]
    assert seg_jaccards(pred, np.zeros_like(gt)).size == 0


def test_ctc_seg_reads_whole_frames_and_3d_slices(tmp_path):
    pred = np.zeros((3, 4, 10, 10), np.uint16)  # t, z, y, x
    pred[0, :, 0:4, 0:4] = 1
    pred[2, 2, 5:9, 5:9] = 7
    seg = tmp_path / "01_GT" / "SEG"
    seg.mkdir(parents=True)
    frame0 = np.zeros((4, 10, 10), np.uint16)
    frame0[:, 0:4, 0:2] = 3  # half of pred 1 in x, all of it inside pred: J = 32 / 64
    tifffile.imwrite(seg / "man_seg000.tif", frame0)
    slice2 = np.zeros((10, 10), np.uint16)
    slice2[5:9, 5:9] = 1   # exactly pred 7 on z = 2: J = 1
    slice2[0:2, 0:2] = 2   # missed: 0
    tifffile.imwrite(seg / "man_seg_002_002.tif", slice2)
    (seg / "notes.txt").write_text("not an annotation")
    result = ctc_seg(pred, tmp_path / "01_GT")
    assert result == {"SEG": pytest.approx((0.5 + 1.0 + 0.0) / 3), "seg_gt_objects": 3, "seg_annotations": 2}
    assert ctc_seg(pred, tmp_path / "nowhere") == {"SEG": None, "seg_gt_objects": 0, "seg_annotations": 0}
    tifffile.imwrite(seg / "man_seg_001_009.tif", slice2)  # no slice 9 in frames of 4 slices
    with pytest.raises(InputError, match="man_seg_001_009.tif.*slice 9"):
        ctc_seg(pred, tmp_path / "01_GT")

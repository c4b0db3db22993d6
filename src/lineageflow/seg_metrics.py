"""Detection quality of label images against ground-truth masks (objects found, IoU matches) and the Cell Tracking
Challenge's segmentation measure SEG."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tifffile

from .errors import InputError

# CTC SEG annotations: a whole frame (man_segTTT.tif) or one z slice of a 3D frame (man_seg_TTT_ZZZ.tif)
_SEG_FILE = re.compile(r"^man_seg(?:(\d+)|_(\d+)_(\d+))\.tiff?$")


def iou_matches(pred: np.ndarray, gt: np.ndarray, min_iou: float = 0.5) -> dict:
    """Count GT objects matched by one predicted object with IoU > ``min_iou`` (one-to-one when min_iou ≥ 0.5)."""
    p = pred.ravel().astype(np.int64)
    g = gt.ravel().astype(np.int64)
    gt_ids = np.unique(g[g > 0])
    pred_ids = np.unique(p[p > 0])
    result = {"n_gt": int(gt_ids.size), "n_pred": int(pred_ids.size), "n_matched": 0, "mean_iou_matched": 0.0}
    if gt_ids.size == 0 or pred_ids.size == 0:
        return result
    both = (p > 0) & (g > 0)
    pairs, inter = np.unique(np.stack([g[both], p[both]]), axis=1, return_counts=True)
    g_size = dict(zip(*np.unique(g[g > 0], return_counts=True)))
    p_size = dict(zip(*np.unique(p[p > 0], return_counts=True)))
    ious = []
    for (gi, pi), n in zip(pairs.T, inter):
        iou = n / (g_size[gi] + p_size[pi] - n)
        if iou > min_iou:
            ious.append(iou)
    result["n_matched"] = len(ious)
    result["mean_iou_matched"] = float(np.mean(ious)) if ious else 0.0
    return result


def summarize(per_frame: list[dict]) -> dict:
    """Sum per-frame counts into totals and the matched fraction of GT objects."""
    tot = {k: sum(d[k] for d in per_frame) for k in ("n_gt", "n_pred", "n_matched")}
    tot["n_frames"] = len(per_frame)
    tot["matched_fraction"] = tot["n_matched"] / tot["n_gt"] if tot["n_gt"] else 0.0
    w = sum(d["n_matched"] for d in per_frame)
    tot["mean_iou_matched"] = (sum(d["mean_iou_matched"] * d["n_matched"] for d in per_frame) / w) if w else 0.0
    return tot


def seg_jaccards(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """CTC SEG per GT object (in label order): the Jaccard index with the predicted object that covers more than half
    of the GT object's pixels, 0 when no predicted object does (at most one can)."""
    p = pred.ravel().astype(np.int64)
    g = gt.ravel().astype(np.int64)
    gt_ids, gt_size = np.unique(g[g > 0], return_counts=True)
    jaccard = np.zeros(gt_ids.size)
    both = (p > 0) & (g > 0)
    if not both.any():
        return jaccard
    pairs, inter = np.unique(np.stack([g[both], p[both]]), axis=1, return_counts=True)
    p_size = dict(zip(*np.unique(p[p > 0], return_counts=True)))
    row = np.searchsorted(gt_ids, pairs[0])
    for i, pi, n in zip(row, pairs[1], inter):
        if 2 * n > gt_size[i]:
            jaccard[i] = n / (gt_size[i] + p_size[pi] - n)
    return jaccard


def ctc_seg(pred_masks: np.ndarray, gt_dir: str | Path) -> dict:
    """The CTC SEG measure of result masks ``pred_masks`` (frames first) against ``gt_dir``/SEG: the mean of
    ``seg_jaccards`` over every annotated GT object; a slice annotation (3D) is compared with that slice of the frame.
    Without SEG annotations SEG is None."""
    folder = Path(gt_dir) / "SEG"
    files = sorted(f for f in folder.iterdir() if _SEG_FILE.match(f.name)) if folder.is_dir() else []
    values = []
    for path in files:
        full, t, z = _SEG_FILE.match(path.name).groups()
        t = int(full if full is not None else t)
        if t >= len(pred_masks):
            raise InputError(f"{path}: SEG annotation of frame {t}, but the result has {len(pred_masks)} frames")
        pred = pred_masks[t] if z is None else _slice(pred_masks[t], int(z), path)
        try:
            gt = tifffile.imread(path)
        except Exception as exc:  # a truncated or foreign file: name it
            raise InputError(f"{path}: cannot read SEG annotation: {exc}") from exc
        if gt.shape != pred.shape:
            raise InputError(f"{path}: SEG annotation has shape {gt.shape}, the result's frame {t} has {pred.shape}")
        values.append(seg_jaccards(pred, gt))
    jaccard = np.concatenate(values) if values else np.zeros(0)
    return {"SEG": float(jaccard.mean()) if jaccard.size else None, "seg_gt_objects": int(jaccard.size),
            "seg_annotations": len(files)}


def _slice(frame: np.ndarray, z: int, path: Path) -> np.ndarray:
    if frame.ndim != 3 or not 0 <= z < frame.shape[0]:
        raise InputError(f"{path}: SEG annotation of slice {z}, but the result's frames have shape {frame.shape}")
    return frame[z]

"""Detection quality of label images against ground-truth masks (objects found, IoU matches)."""

from __future__ import annotations

import numpy as np


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

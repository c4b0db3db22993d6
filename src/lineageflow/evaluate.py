"""Tracking accuracy against CTC ground truth with traccuracy: TRA, DET, LNK and division precision/recall/F1."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import traccuracy
from traccuracy import TrackingGraph
from traccuracy.loaders import load_ctc_data
from traccuracy.loaders._ctc import load_tiffs
from traccuracy.matchers import CTCMatcher, get_labels_with_overlap
from traccuracy.matchers._base import Matcher
from traccuracy.matchers._compute_overlap import graph_bbox_and_labels
from traccuracy.metrics import CTCMetrics, DivisionMetrics

from .atomic import atomic_path
from .errors import InputError
from .seg_metrics import ctc_seg


class CTCOneToOneMatcher(Matcher):
    """The CTC matching criterion made one-to-one, for DivisionMetrics.

    A prediction matches a GT object when it covers more than half of the GT object's pixels (as in
    CTCMatcher, so it works with marker-only GT such as GOWT1/CHO TRA, where IoU against a full
    segmentation is low). A GT object then has at most one match; a prediction covering several GT
    objects (a merger) keeps the one it covers the largest fraction of (ties: lowest GT label).
    """

    _matching_type = "one-to-one"

    def _compute_mapping(self, gt_graph: TrackingGraph, pred_graph: TrackingGraph) -> list[tuple[Hashable, Hashable]]:
        seg_gt, seg_pred = gt_graph.segmentation, pred_graph.segmentation
        if seg_gt is None or seg_pred is None or seg_gt.shape != seg_pred.shape:
            raise ValueError("CTCOneToOneMatcher needs GT and prediction segmentations of the same shape")
        mapping: list[tuple[Hashable, Hashable]] = []
        for t in sorted(gt_graph.nodes_by_frame):
            gt_nodes = sorted(gt_graph.nodes_by_frame[t])
            pred_nodes = sorted(pred_graph.nodes_by_frame.get(t, set()))
            if not gt_nodes or not pred_nodes:
                continue
            gt_boxes, gt_labels = graph_bbox_and_labels(gt_graph.graph, gt_nodes, gt_graph.label_key)
            pred_boxes, pred_labels = graph_bbox_and_labels(pred_graph.graph, pred_nodes, pred_graph.label_key)
            gt_id = {gt_graph.graph.nodes[n][gt_graph.label_key]: n for n in gt_nodes}
            pred_id = {pred_graph.graph.nodes[n][pred_graph.label_key]: n for n in pred_nodes}
            overlaps = get_labels_with_overlap(
                seg_gt[t], seg_pred[t], gt_boxes, pred_boxes, gt_labels, pred_labels, overlap="iogt"
            )
            best: dict[int, tuple[float, int]] = {}
            for g, p, iogt in overlaps:
                if iogt > 0.5 and (p not in best or (iogt, -g) > best[p]):
                    best[p] = (iogt, -g)
            mapping.extend((gt_id[-neg_g], pred_id[p]) for p, (_, neg_g) in sorted(best.items()))
        return mapping


def _load(folder: Path, track_file: Path, role: str, name: Path) -> TrackingGraph:
    """load_ctc_data with run_checks=True; any failure becomes one InputError naming ``name``."""
    if not folder.is_dir():
        raise InputError(f"{role} {name}: folder {folder} does not exist")
    if not track_file.is_file():
        raise InputError(f"{role} {name}: track file {track_file} does not exist")
    try:
        if not track_file.read_text().strip():
            # No tracks at all: traccuracy cannot read an empty file, but an empty result is valid if its masks are empty.
            masks = load_tiffs(str(folder))
            if masks.any():
                raise ValueError(f"{track_file.name} is empty but the masks contain labels")
            keys = ("z", "y", "x") if masks.ndim == 4 else ("y", "x")
            return TrackingGraph(nx.DiGraph(), segmentation=masks, name=role, location_keys=keys)
        return load_ctc_data(str(folder), str(track_file), name=role, run_checks=True)
    except InputError:
        raise
    except Exception as e:  # traccuracy raises ValueError for failed checks, others for unreadable files
        raise InputError(f"{role} {name} fails the CTC checks: {e}") from e


def _num(value: Any) -> Any:
    """Plain Python numbers for JSON; NaN (metric undefined, e.g. no divisions) becomes None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def evaluate_ctc(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, max_frame_buffer: int = 1) -> dict[str, Any]:
    """Compare a CTC result folder with a CTC GT folder (``gt_dir/TRA`` + ``man_track.txt``); a flat metrics dict.

    TRA/DET/LNK and the AOGM error counts use CTCMatcher + CTCMetrics; SEG is the CTC segmentation measure on the
    GT's SEG annotations (``seg_metrics.ctc_seg``). Division metrics use
    DivisionMetrics with CTCOneToOneMatcher; ``division_*`` are at frame buffer 0 (exact frame),
    ``division_*_fb{k}`` tolerate a division shifted by up to k frames (k = 1..max_frame_buffer).
    Undefined values (e.g. F1 without any division) are None.
    """
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    gt = _load(gt_dir / "TRA", gt_dir / "TRA" / "man_track.txt", "ground truth", gt_dir)
    pred = _load(pred_dir, pred_dir / "res_track.txt", "prediction", pred_dir)
    if gt.segmentation.shape != pred.segmentation.shape:
        raise InputError(
            f"prediction {pred_dir} has masks of shape {pred.segmentation.shape} (frames first), "
            f"ground truth {gt_dir} has {gt.segmentation.shape}"
        )
    # CTCMatcher indexes the masks from 0 but the frames from the first GT frame with an object; align them.
    if gt.start_frame is not None:
        gt.start_frame = 0

    out: dict[str, Any] = {
        "traccuracy_version": traccuracy.__version__,
        "gt_dir": str(gt_dir),
        "pred_dir": str(pred_dir),
        "n_frames": int(gt.segmentation.shape[0]),
        "n_gt_nodes": gt.graph.number_of_nodes(),
        "n_gt_edges": gt.graph.number_of_edges(),
        "n_pred_nodes": pred.graph.number_of_nodes(),
        "n_pred_edges": pred.graph.number_of_edges(),
        "matcher": "CTCMatcher",
    }
    matched = CTCMatcher().compute_mapping(gt, pred)
    ctc = CTCMetrics().compute(matched).results
    for key in ("TRA", "DET", "LNK", "AOGM", "fp_nodes", "fn_nodes", "ns_nodes", "fp_edges", "fn_edges", "ws_edges"):
        out[key] = _num(ctc[key])
    out.update(ctc_seg(pred.segmentation, gt_dir))  # SEG from gt_dir/SEG (None without SEG annotations)

    # Division metrics need a one-to-one matching and clean graphs (flags from the CTC run would leak in).
    gt.clear_annotations()
    pred.clear_annotations()
    matched = CTCOneToOneMatcher().compute_mapping(gt, pred)
    div = DivisionMetrics(max_frame_buffer=max_frame_buffer).compute(matched).results
    out["division_matcher"] = "CTCOneToOneMatcher (pred covers > 50% of the GT object; one-to-one)"
    out["division_frame_buffer"] = 0
    out["division_max_frame_buffer"] = int(max_frame_buffer)
    names = {
        "Division Precision": "precision",
        "Division Recall": "recall",
        "Division F1": "f1",
        "Mitotic Branching Correctness": "mbc",
        "True Positive Divisions": "tp",
        "False Positive Divisions": "fp",
        "False Negative Divisions": "fn",
        "Wrong Children Divisions": "wrong_children",
    }
    for fb in range(max_frame_buffer + 1):
        res = div[f"Frame Buffer {fb}"]
        suffix = "" if fb == 0 else f"_fb{fb}"
        for src, dst in names.items():
            out[f"division_{dst}{suffix}"] = _num(res[src])
    out["n_gt_divisions"] = _num(div["Frame Buffer 0"]["Total GT Divisions"])
    out["n_pred_divisions"] = _num(div["Frame Buffer 0"]["Total Predicted Divisions"])
    return out


def write_metrics(path: str | os.PathLike, metrics: dict[str, Any]) -> Path:
    """Write metrics as JSON (sorted keys, NaN as null), atomically."""
    path = Path(path)
    clean = {k: _num(v) for k, v in metrics.items()}
    text = json.dumps(clean, sort_keys=True, indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path

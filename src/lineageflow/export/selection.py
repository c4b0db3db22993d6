"""Exports for sparse ground truth: keep only the lineages of the objects of frame 0 that a reference label image
marks (config key ``export.first_frame_labels``, e.g. a Cell Tracking Challenge ``TRA/man_track000.tif`` whose
ground truth follows only some cells).

A tracked object of frame 0 is selected when any of its pixels is non-zero in the reference image; its whole
lineage tree (its ancestors and all their descendants, along the tracks' parent links) is kept. Track ids are kept
as they are, so the selected tables still match ``track/tracks.csv`` and every export of them stays valid (CTC
only requires unique ids and existing parents, which a union of whole trees keeps).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from ..errors import InputError
from ..lineage import Lineage

KEY = "export.first_frame_labels"


def _where(path) -> str:
    return f"config key '{KEY}' = {str(path)!r}"


def read_reference(path: str | Path, spatial_shape) -> np.ndarray:
    """The reference label image of frame 0, checked: a readable TIFF of integer labels with the movie's frame
    shape (leading axes of length 1, as some writers add, are dropped) and at least one non-zero label. Read-only:
    the file is never written. Raises InputError naming the config key and the file."""
    path = Path(path)
    shape = tuple(int(n) for n in spatial_shape)
    if not path.is_file():
        raise InputError(f"{_where(path)}: no such file (a label image of frame 0, e.g. a CTC TRA/man_track000.tif)")
    try:
        img = tifffile.imread(path)
    except Exception as exc:  # tifffile raises several types for a non-TIFF or a damaged file
        raise InputError(f"{_where(path)}: cannot read it as a TIFF label image: {exc}") from exc
    while img.ndim > len(shape) and img.shape[0] == 1:
        img = img[0]
    if img.shape != shape:
        raise InputError(f"{_where(path)}: label image has shape {img.shape} but the movie's frames have shape "
                         f"{shape} (give the label image of frame 0 only)")
    if img.dtype.kind not in "iu":
        raise InputError(f"{_where(path)}: label image is {img.dtype}; expected integer labels")
    if not img.any():
        raise InputError(f"{_where(path)}: label image has no labels (every pixel is 0)")
    return img


def lineage_roots(tracks: pd.DataFrame) -> pd.Series:
    """Root track of every track (its ancestor without a parent), indexed by track id L."""
    L = tracks["L"].to_numpy(np.int64)
    P = tracks["P"].to_numpy(np.int64)
    index = pd.Index(L)
    pos = index.get_indexer(P)  # -1 for P = 0 (a root) or an unknown parent
    if ((P > 0) & (pos < 0)).any():
        bad = int(L[(P > 0) & (pos < 0)][0])
        raise InputError(f"lineage tracks: track {bad} has a parent that is not a track")
    up = np.where(pos >= 0, pos, np.arange(len(L)))  # a root points to itself
    for _ in range(int(np.log2(max(len(L), 1))) + 2):  # pointer jumping: each pass doubles the distance covered
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    if (pos[up] >= 0).any():  # cannot happen in a validated lineage (a parent ends before its child begins)
        raise InputError("lineage tracks: the parent links form a cycle")
    return pd.Series(L[up], index=index, name="root")


def select_lineages(nodes: pd.DataFrame, tracks: pd.DataFrame, seed_tracks) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The nodes and tracks of the whole lineage trees that hold any of ``seed_tracks`` (track ids)."""
    roots = lineage_roots(tracks)
    seeds = np.asarray(list(seed_tracks), np.int64)
    unknown = ~np.isin(seeds, roots.index.to_numpy())
    if unknown.any():
        raise InputError(f"lineage: selected track {int(seeds[unknown][0])} is not a track")
    keep_roots = np.unique(roots.loc[seeds].to_numpy()) if seeds.size else np.zeros(0, np.int64)
    keep = roots.index[np.isin(roots.to_numpy(), keep_roots)].to_numpy()
    kept_tracks = tracks[tracks["L"].isin(keep)].reset_index(drop=True)
    kept_nodes = nodes[nodes["track_id"].isin(keep)].reset_index(drop=True)
    return kept_nodes, kept_tracks


def overlapping_labels(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Labels (> 0) of ``labels`` with at least one pixel where ``reference`` is non-zero, sorted."""
    hit = np.unique(labels[reference != 0])
    return hit[hit > 0]


def select_first_frame(nodes: pd.DataFrame, tracks: pd.DataFrame, frame0_labels: np.ndarray, reference: np.ndarray,
                       reference_path: str | Path = "") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Keep the lineages of the tracked objects of frame 0 (``frame0_labels``: the tracked label image of frame 0,
    whose values are the nodes' ``label``) that overlap a non-zero pixel of ``reference``.

    Returns the kept nodes and tracks and a summary for the log. Raises InputError naming the config key when the
    images differ in shape or no tracked object of frame 0 overlaps the reference."""
    if frame0_labels.shape != reference.shape:
        raise InputError(f"{_where(reference_path)}: label image has shape {reference.shape} but the tracked label "
                         f"image of frame 0 has shape {frame0_labels.shape}")
    first = nodes[nodes["frame"] == 0]
    hit = overlapping_labels(frame0_labels, reference)
    seeds = first.loc[first["label"].isin(hit), "track_id"].to_numpy(np.int64)
    if not seeds.size:
        raise InputError(f"{_where(reference_path)}: none of the {len(first)} tracked objects of frame 0 overlaps a "
                         f"label of this image, so no lineage would be exported (is it the label image of frame 0 "
                         f"of this movie?)")
    kept_nodes, kept_tracks = select_lineages(nodes, tracks, seeds)
    # reference labels that no tracked object of frame 0 touches: cells the tracker missed at the start
    ref_ids = np.unique(reference[reference != 0])
    covered = np.unique(reference[(reference != 0) & np.isin(frame0_labels, first["label"].to_numpy())])
    summary = {
        "reference": str(reference_path),
        "reference_labels": int(ref_ids.size),
        "reference_labels_unmatched": [int(v) for v in np.setdiff1d(ref_ids, covered)],
        "frame0_objects": int(len(first)),
        "frame0_objects_selected": int(seeds.size),
        "lineages": [int(r) for r in np.unique(lineage_roots(kept_tracks).to_numpy())],
        "tracks_kept": int(len(kept_tracks)),
        "tracks_total": int(len(tracks)),
        "objects_kept": int(len(kept_nodes)),
        "objects_total": int(len(nodes)),
    }
    return kept_nodes, kept_tracks, summary


def select_lineage(lin: Lineage, labels_at, reference_path: str | Path) -> tuple[Lineage, dict]:
    """``lin`` with only the lineages that the reference label image at ``reference_path`` marks in frame 0
    (``labels_at(0)``: the tracked label image of frame 0), checked to be a valid lineage; and a summary."""
    frame0 = np.asarray(labels_at(0))
    reference = read_reference(reference_path, frame0.shape)
    nodes, tracks, summary = select_first_frame(lin.nodes, lin.tracks, frame0, reference, reference_path)
    kept = Lineage.from_tables(nodes, tracks)
    summary.update(kept.summary())
    return kept, summary

"""Candidate links between objects of nearby frames: k nearest neighbours, forward ∪ backward, within a maximum
distance in physical units (the voxel size is honoured, unlike ilastik's tracker). Links from frame t go to t+1
and, for gap closing, to t+2 .. t+max_gap (a track that misses a detection or a whole frame stays one track)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .errors import ConfigError

POSITION = ["pos_z", "pos_y", "pos_x"]
EDGE_COLUMNS = ["frame", "label_src", "label_dst", "distance", "frame_dst"]
# how links are ordered and identified: gap links (frame_dst > frame + 1) share (frame, label_src, label_dst)
# with consecutive ones
EDGE_KEY = ["frame", "frame_dst", "label_src", "label_dst"]


def dst_frame(edges: pd.DataFrame) -> np.ndarray:
    """The target frame of every link: ``frame_dst`` where the table has it, else ``frame + 1``."""
    if "frame_dst" in edges.columns:
        return edges["frame_dst"].to_numpy(np.int64)
    return edges["frame"].to_numpy(np.int64) + 1


def with_dst_frame(edges: pd.DataFrame) -> pd.DataFrame:
    """``edges`` with a ``frame_dst`` column (``frame + 1`` where it had none)."""
    return edges if "frame_dst" in edges.columns else edges.assign(frame_dst=dst_frame(edges))


def _pairs(a: np.ndarray, b: np.ndarray, k: int, max_distance: float) -> list[tuple[int, int]]:
    """(i, j) with b[j] among a[i]'s k nearest or a[i] among b[j]'s, within ``max_distance``."""
    pairs = set()
    for x, y, flip in ((a, b, False), (b, a, True)):
        kk = min(k, len(y))
        dist, idx = cKDTree(y).query(x, k=kk, distance_upper_bound=max_distance)
        dist, idx = dist.reshape(len(x), kk), idx.reshape(len(x), kk)
        for i, j in zip(*np.nonzero(np.isfinite(dist))):
            pairs.add((idx[i, j], i) if flip else (i, idx[i, j]))
    return sorted(pairs)


def candidate_links(table: pd.DataFrame, *, k: int = 3, max_distance: float = 50.0, max_gap: int = 1) -> pd.DataFrame:
    """Edges (frame, label_src, label_dst, distance, frame_dst) from each frame t to t+1 .. t+max_gap, sorted
    by :data:`EDGE_KEY`.

    An edge is a candidate when the target is among the source's k nearest objects in its frame or the source is
    among the target's k nearest (so a cell is never left without its obvious predecessor). A link over g frames
    may be g · ``max_distance`` long.
    """
    if k < 1:
        raise ConfigError(f"config key 'tracking.k_neighbours' = {k}; it must be at least 1")
    if max_distance <= 0:
        raise ConfigError(f"config key 'tracking.max_distance' = {max_distance}; it must be positive")
    if not (isinstance(max_gap, (int, np.integer)) and max_gap >= 1):
        raise ConfigError(f"config key 'tracking.max_gap' = {max_gap!r}; it must be an integer >= 1 (1 = no gap links)")
    parts = []
    by_frame = {t: g for t, g in table.groupby("frame", sort=True)}
    for t, src in by_frame.items():
        for g in range(1, int(max_gap) + 1):
            dst = by_frame.get(t + g)
            if dst is None or src.empty or dst.empty:
                continue
            a = src[POSITION].to_numpy(float)
            b = dst[POSITION].to_numpy(float)
            pairs = _pairs(a, b, k, max_distance * g)
            if not pairs:
                continue
            ii, jj = np.array(pairs).T
            parts.append(pd.DataFrame({
                "frame": np.full(len(ii), t, dtype=np.int64),
                "label_src": src["label"].to_numpy(np.int64)[ii],
                "label_dst": dst["label"].to_numpy(np.int64)[jj],
                "distance": np.linalg.norm(a[ii] - b[jj], axis=1),
                "frame_dst": np.full(len(ii), t + g, dtype=np.int64),
            }))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c != "distance" else "float64") for c in EDGE_COLUMNS})
    return pd.concat(parts, ignore_index=True).sort_values(EDGE_KEY, ignore_index=True)

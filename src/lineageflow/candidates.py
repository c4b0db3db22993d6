"""Candidate links between objects of consecutive frames: k nearest neighbours, forward ∪ backward,
within a maximum distance in physical units (the voxel size is honoured, unlike ilastik's tracker)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .errors import ConfigError

POSITION = ["pos_z", "pos_y", "pos_x"]
EDGE_COLUMNS = ["frame", "label_src", "label_dst", "distance"]


def candidate_links(table: pd.DataFrame, *, k: int = 3, max_distance: float = 50.0) -> pd.DataFrame:
    """Edges (frame, label_src, label_dst, distance) from each frame t to t+1, sorted.

    An edge is a candidate when the target is among the source's k nearest objects in t+1 or the source is
    among the target's k nearest in t (so a cell is never left without its obvious predecessor).
    """
    if k < 1:
        raise ConfigError(f"config key 'tracking.k_neighbours' = {k}; it must be at least 1")
    if max_distance <= 0:
        raise ConfigError(f"config key 'tracking.max_distance' = {max_distance}; it must be positive")
    parts = []
    by_frame = {t: g for t, g in table.groupby("frame", sort=True)}
    for t, src in by_frame.items():
        dst = by_frame.get(t + 1)
        if dst is None or src.empty or dst.empty:
            continue
        a = src[POSITION].to_numpy(float)
        b = dst[POSITION].to_numpy(float)
        pairs = set()
        for x, y, flip in ((a, b, False), (b, a, True)):
            kk = min(k, len(y))
            dist, idx = cKDTree(y).query(x, k=kk, distance_upper_bound=max_distance)
            dist, idx = dist.reshape(len(x), kk), idx.reshape(len(x), kk)
            for i, j in zip(*np.nonzero(np.isfinite(dist))):
                pairs.add((idx[i, j], i) if flip else (i, idx[i, j]))
        if not pairs:
            continue
        ii, jj = np.array(sorted(pairs)).T
        parts.append(pd.DataFrame({
            "frame": np.full(len(ii), t, dtype=np.int64),
            "label_src": src["label"].to_numpy(np.int64)[ii],
            "label_dst": dst["label"].to_numpy(np.int64)[jj],
            "distance": np.linalg.norm(a[ii] - b[jj], axis=1),
        }))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c != "distance" else "float64") for c in EDGE_COLUMNS})
    return pd.concat(parts, ignore_index=True).sort_values(["frame", "label_src", "label_dst"], ignore_index=True)

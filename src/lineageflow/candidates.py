"""Candidate links between objects of nearby frames: k nearest neighbours, forward ∪ backward, within a maximum
distance in physical units (the voxel size is honoured, unlike ilastik's tracker). Links from frame t go to t+1
and, for gap closing, to t+2 .. t+max_gap (a track that misses a detection or a whole frame stays one track).

A gap link bridges frames in which the cell was not found: it is no candidate when a skipped frame has an object
on its path (within that object's radius of the segment between its ends). Otherwise one object per frame could
carry two tracks in turn (every other frame each), which costs less than calling it a merger."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .errors import ConfigError

POSITION = ["pos_z", "pos_y", "pos_x"]
# each object's displacement to the next frame (physical units), sampled from the flow field (config key flow)
FLOW_COLUMNS = ["flow_z", "flow_y", "flow_x"]
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


def advected_positions(table: pd.DataFrame, steps: int = 1) -> np.ndarray:
    """Object positions (n, 3) moved ``steps`` frames along their flow (columns :data:`FLOW_COLUMNS`, written by
    objects_features when config key flow.enabled is true); the positions themselves without those columns."""
    pos = table[POSITION].to_numpy(float)
    if not set(FLOW_COLUMNS) <= set(table.columns):
        return pos
    return pos + steps * table[FLOW_COLUMNS].to_numpy(float)


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


def _radius(table: pd.DataFrame) -> np.ndarray:
    """Each object's equivalent radius (physical units) from its ``volume``; 0 without that column."""
    if "volume" not in table.columns:
        return np.zeros(len(table))
    vol = table["volume"].to_numpy(float)
    ndim = table["spatial_ndim"].to_numpy(int) if "spatial_ndim" in table.columns else np.full(len(table), 3)
    return np.where(ndim == 2, np.sqrt(vol / np.pi), np.cbrt(3.0 * vol / (4.0 * np.pi)))


def _blocked(a: np.ndarray, b: np.ndarray, between: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Whether an object of a skipped frame (positions, radii) lies on the segment a[i] → b[i]."""
    out = np.zeros(len(a), dtype=bool)
    for pos, rad in between:
        if not len(pos):
            continue
        tree = cKDTree(pos)
        mid, half = (a + b) / 2, np.linalg.norm(b - a, axis=1) / 2
        for i, near in enumerate(tree.query_ball_point(mid, half + rad.max())):
            if not near:
                continue
            ab = b[i] - a[i]
            u = np.clip(((pos[near] - a[i]) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
            dist = np.linalg.norm(a[i] + u[:, None] * ab - pos[near], axis=1)
            out[i] |= bool((dist <= rad[near]).any())
    return out


def candidate_links(table: pd.DataFrame, *, k: int = 3, max_distance: float = 50.0, max_gap: int = 1) -> pd.DataFrame:
    """Edges (frame, label_src, label_dst, distance, frame_dst) from each frame t to t+1 .. t+max_gap, sorted
    by :data:`EDGE_KEY`.

    An edge is a candidate when the target is among the source's k nearest objects in its frame or the source is
    among the target's k nearest (so a cell is never left without its obvious predecessor). A link over g frames
    may be g · ``max_distance`` long. With flow columns, sources are moved along their flow first, and
    ``distance`` is measured from there (what the transition and gap terms pay).
    """
    if k < 1:
        raise ConfigError(f"config key 'tracking.k_neighbours' = {k}; it must be at least 1")
    if max_distance <= 0:
        raise ConfigError(f"config key 'tracking.max_distance' = {max_distance}; it must be positive")
    if not (isinstance(max_gap, (int, np.integer)) and max_gap >= 1):
        raise ConfigError(f"config key 'tracking.max_gap' = {max_gap!r}; it must be an integer >= 1 (1 = no gap links)")
    parts = []
    table = table.assign(_radius=_radius(table))
    by_frame = {t: g for t, g in table.groupby("frame", sort=True)}
    for t, src in by_frame.items():
        for g in range(1, int(max_gap) + 1):
            dst = by_frame.get(t + g)
            if dst is None or src.empty or dst.empty:
                continue
            a = advected_positions(src, g)  # along the flow, when there is one: a gap extrapolates it
            b = dst[POSITION].to_numpy(float)
            pairs = _pairs(a, b, k, max_distance * g)
            if not pairs:
                continue
            ii, jj = np.array(pairs).T
            if g > 1:
                between = [(f[POSITION].to_numpy(float), f["_radius"].to_numpy(float))
                           for f in (by_frame.get(t + s) for s in range(1, g)) if f is not None]
                free = ~_blocked(a[ii], b[jj], between)
                ii, jj = ii[free], jj[free]
                if not ii.size:
                    continue
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

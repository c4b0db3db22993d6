"""Overlapping time windows: the plan (which frames each tracking job solves) and one window's solve.

A movie of n frames is cut into windows of ``window_size`` W frames that overlap by ``overlap`` O frames; the
last window is shifted back so it ends on the last frame with W frames (it may overlap its neighbour by more
than O). Each window is an independent conservation-tracking ILP with free appearance in its first frame and
free disappearance in its last. Where a neighbour covers those frames they are never used: the stitch
(:mod:`lineageflow.stitch`) keeps each overlap's half nearer each window's centre and decides the links across
the cut with the global model's costs, so in the result appearance/disappearance are free only in the movie's
first / last frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from . import ilp
from .candidates import candidate_links
from .errors import ConfigError, InputError

log = logging.getLogger("lineageflow")

NODE_RESULT_COLUMNS = ["count", "appear", "disappear", "divide"]


def time_windows(n_frames: int, window_size: int, overlap: int) -> dict[str, tuple[int, int]]:
    """Window id → half-open frame range [start, stop). Ids are the inclusive range, e.g. '0015-0034'.

    ``window_size`` 0 or >= n_frames gives one window over the whole movie (the global solve); so does an
    overlap at least as long as the movie (see :func:`plan_note`).
    """
    if n_frames < 1:
        raise ConfigError(f"the movie has {n_frames} frames; at least 1 is needed")
    if window_size != 0 and window_size < 2:
        raise ConfigError(f"config key 'window_size' = {window_size}; a window needs at least 2 frames "
                          "(or 0 for one window over the whole movie)")
    if overlap < 0:
        raise ConfigError(f"config key 'overlap' = {overlap}; it must be >= 0")
    if window_size and overlap >= window_size:
        raise ConfigError(f"config key 'overlap' = {overlap} is not smaller than 'window_size' = {window_size}; "
                          "windows would never advance")
    width = max(4, len(str(n_frames - 1)))
    if window_size == 0 or window_size >= n_frames:
        bounds = [(0, n_frames)]
    else:
        step = window_size - overlap
        bounds = []
        start = 0
        while start + window_size < n_frames:
            bounds.append((start, start + window_size))
            start += step
        bounds.append((n_frames - window_size, n_frames))
    return {f"{a:0{width}d}-{b - 1:0{width}d}": (a, b) for a, b in bounds}


def plan_note(n_frames: int, window_size: int, overlap: int) -> str | None:
    """What the user should know about a plan that is valid but not what the numbers ask for."""
    if overlap >= n_frames > 1:
        return (f"config key 'overlap' = {overlap} frames is not smaller than the movie ({n_frames} frames): "
                "the movie is tracked as one window")
    return None


def cut_frames(windows: dict[str, tuple[int, int]]) -> list[int]:
    """For each pair of consecutive windows, the first frame taken from the later one: the middle of their
    overlap (frames before it are nearer the earlier window's centre)."""
    spans = sorted(windows.values())
    cuts = []
    for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
        if not a0 < a1 <= b0 or b1 <= b0:
            raise ConfigError(f"windows [{a0}, {b0}) and [{a1}, {b1}) do not follow each other without a gap")
        cuts.append(a1 + (b0 - a1) // 2)
    return cuts


def owned_frames(windows: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Window id → the frames [a, b) whose objects and inner links the stitched result takes from it."""
    ids = sorted(windows, key=lambda w: windows[w])
    cuts = cut_frames(windows)
    edges = [windows[ids[0]][0], *cuts, windows[ids[-1]][1]]
    return {w: (edges[i], edges[i + 1]) for i, w in enumerate(ids)}


def chunks_of_window(start: int, stop: int, chunks: dict[str, tuple[int, int]]) -> list[str]:
    """The frame chunks a window reads (only those overlapping its frames)."""
    return [c for c, (a, b) in chunks.items() if a < stop and b > start]


def tracking_nodes(table: pd.DataFrame, probabilities: pd.DataFrame) -> pd.DataFrame:
    """Object features joined with the classifiers' probabilities: the ILP's detections."""
    nodes = table.merge(probabilities, on=["frame", "label"], how="inner", validate="one_to_one")
    if len(nodes) != len(table):
        raise InputError("the classifier output does not cover every object (features and probabilities tables differ)")
    # cells enter and leave laterally: z borders of a thin stack would make every object "at the border"
    return nodes.assign(border_distance=nodes["border_distance_yx"])


def links(nodes: pd.DataFrame, tracking: dict) -> pd.DataFrame:
    return candidate_links(nodes, k=tracking["k_neighbours"], max_distance=tracking["max_distance"],
                           max_gap=tracking["max_gap"])


@dataclass
class WindowResult:
    nodes: pd.DataFrame  # every detection of the window with its features + count, appear, disappear, divide
    edges: pd.DataFrame  # active links: frame, label_src, label_dst, flow, frame_dst
    summary: dict


def solve_window(nodes: pd.DataFrame, tracking: dict, start: int, stop: int, n_frames: int, *, threads: int = 1,
                 failed_model_path: str | None = None, free_inner_edges: bool = True) -> WindowResult:
    """Solve the tracking ILP of frames [start, stop) of an ``n_frames`` movie.

    ``free_inner_edges``: appearance in the window's first ``max_gap`` frames and disappearance in its last are
    free also where a neighbouring window covers them (there they stand for links to frames outside the window, which
    the stitch decides). Charging them instead (False; only for the seam benchmark) distorts the solution near
    the edges: a track running out of the window pays a full disappearance, so divisions shortly before the
    window's end and objects near its start get dropped.
    """
    nodes = nodes[(nodes["frame"] >= start) & (nodes["frame"] < stop)].reset_index(drop=True)
    summary = {"frames": [start, stop], "n_objects": int(len(nodes))}
    if nodes.empty:
        log.warning("window [%d, %d) has no objects: nothing to track", start, stop)
        empty = nodes.assign(**{c: pd.Series(dtype="int64") for c in NODE_RESULT_COLUMNS})
        edges = pd.DataFrame({c: pd.Series(dtype="int64") for c in ("frame", "label_src", "label_dst", "flow", "frame_dst")})
        return WindowResult(empty, edges, summary | {"status": "empty", "solver": None, "objective": 0.0,
                                                     "gap": None, "n_candidate_links": 0})
    edges = links(nodes, tracking)
    # a track may enter or leave a window over a gap link: its first / last max_gap frames are the edge
    reach = range(int(tracking["max_gap"]))
    model = ilp.build(nodes, edges, ilp.TrackingParams.from_dict(tracking),
                      free_appearance_frames=[start] if start == 0 else [start + g for g in reach] if free_inner_edges else [],
                      free_disappearance_frames=[stop - 1] if stop == n_frames else [stop - 1 - g for g in reach]
                      if free_inner_edges else [],
                      names=False)
    log.info("window [%d, %d): %d objects, %d candidate links", start, stop, len(nodes), len(edges))
    sol = ilp.solve(model, tracking["solver"], gap=tracking["gap"], time_limit=tracking["time_limit"] or None,
                    threads=threads, failed_model_path=failed_model_path)
    summary |= sol.to_dict() | {"n_candidate_links": int(len(edges))}
    if sol.status == "time_limit":
        log.warning("window [%d, %d): time limit reached, best solution kept with gap %s", start, stop, sol.gap)
    log.info("window [%d, %d) solved: %s", start, stop, summary)
    return WindowResult(nodes.merge(sol.nodes, on=["frame", "label"], validate="one_to_one"), sol.edges, summary)

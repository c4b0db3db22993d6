"""Stitch window solutions into one tracking solution of the whole movie.

Window k owns the frames from the cut before it to the cut after it (a cut is the middle of an overlap, see
:func:`lineageflow.windows.owned_frames`); the stitched solution takes each object's count and each link inside
those frames from the owning window. At a cut c the windows disagree only in how frame c − 1 (taken from the
earlier window) connects to frame c (taken from the later one): a window may keep an object its neighbour dropped,
a division may straddle the cut, a merger's flow may not match. The links across the cut are therefore decided
by a small ILP of the same energy with everything else fixed: the counts of both frames, the in-flow of frame
c − 1 and the out-flow of frame c. Its free variables are the crossing links, the divisions of frame c − 1 and
the disappearances / appearances at the cut (not free: they cost what they cost in the global model). It is
always feasible (every object may end at the cut and start after it), so the result is always a valid lineage,
and :func:`check` verifies that on the global model.

With gap links (``tracking.max_gap`` G > 1) a link crosses the cut when it starts before c and ends at or after
it, so the seam holds the frames c − G .. c + G − 1: an object before the cut offers what its decided links
leave over (count + division − decided out-flow), one after the cut takes what is left (count − decided
in-flow); only frame c − 1 may still decide its division. A division decided by the earlier window whose
second child was a discarded crossing link and is not re-linked is undone (the object just continues).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import ilp
from .candidates import EDGE_KEY, dst_frame
from .errors import InputError
from .windows import NODE_RESULT_COLUMNS, WindowResult, links, owned_frames

log = logging.getLogger("lineageflow")

KEY = ["frame", "label"]


@dataclass
class Stitched:
    nodes: pd.DataFrame  # every detection of the movie with count, appear, disappear, divide
    edges: pd.DataFrame  # active links with flow
    seams: list[dict] = field(default_factory=list)


def _fix(model: ilp.TrackingModel, rows: np.ndarray, counts: np.ndarray, block: str | None) -> None:
    """Fix the counts of detections ``rows`` and (optionally) their appearance ``a`` or disappearance ``d``
    to the count: all their flow on that side is outside the seam model."""
    cols, lb, ub = model.cols, model.milp.lb, model.milp.ub
    states = cols.state(np.repeat(rows, cols.max_count), np.tile(np.arange(1, cols.max_count + 1), rows.size))
    lb[states] = ub[states] = 0.0
    on = counts > 0
    lb[cols.state(rows[on], counts[on])] = ub[cols.state(rows[on], counts[on])] = 1.0
    if block is not None:
        lb[cols.block(block)[rows]] = ub[cols.block(block)[rows]] = counts.astype(float)


def _flow_by_node(edges: pd.DataFrame, frame: np.ndarray, label: np.ndarray, side: str) -> np.ndarray:
    """Total flow of ``edges`` leaving (side "src") or entering ("dst") each object (frame, label)."""
    if edges.empty:
        return np.zeros(len(frame), dtype=np.int64)
    f = edges["frame"].to_numpy(np.int64) if side == "src" else dst_frame(edges)
    flow = pd.Series(edges["flow"].to_numpy(np.int64),
                     index=pd.MultiIndex.from_arrays([f, edges[f"label_{side}"].to_numpy(np.int64)]))
    flow = flow.groupby(level=[0, 1]).sum()
    return flow.reindex(pd.MultiIndex.from_arrays([frame, label]), fill_value=0).to_numpy(np.int64)


def solve_seam(before: pd.DataFrame, after: pd.DataFrame, tracking: dict, decided: pd.DataFrame | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Links crossing the cut c between ``before`` (frames c − G .. c − 1, solved by the earlier window) and
    ``after`` (frames c .. c + G − 1, by the later); their ``count`` is what is left to link out / in (see the
    module docstring), only frame c − 1 keeps its ``p_division``; links in ``decided`` are not candidates.

    Returns (before's new disappear/divide, after's new appear, crossing links) — see the module docstring.
    """
    # counts are fixed here, some to 0 (an object whose links are all decided): keep_all_objects does not apply
    params = ilp.TrackingParams.from_dict({**tracking, "keep_all_objects": False})
    nb = len(before)
    cut = int(after["frame"].min()) if len(after) else int(before["frame"].max()) + 1
    last = before["frame"] == before["frame"].max() if len(before) else before["frame"]
    seam_nodes = pd.concat([before.assign(p_division=before["p_division"].where(last, 0.0)),
                            after.assign(p_division=0.0)], ignore_index=True)
    edges = links(seam_nodes, tracking)
    edges = edges[(edges["frame"] < cut) & (edges["frame_dst"] >= cut)]
    if decided is not None and len(decided):  # a gap link over two cuts may have been decided at the first
        seen = pd.MultiIndex.from_frame(decided[EDGE_KEY])
        edges = edges[~pd.MultiIndex.from_frame(edges[EDGE_KEY]).isin(seen)]
    edges = edges.reset_index(drop=True)
    model = ilp.build(seam_nodes, edges, params, free_appearance_frames=[], free_disappearance_frames=[], names=False)
    counts = seam_nodes["count"].to_numpy(np.int64)
    idx = np.arange(len(seam_nodes))
    _fix(model, idx[:nb], counts[:nb], "a")  # frame c − 1: in-flow comes from the earlier window
    _fix(model, idx[nb:], counts[nb:], "d")  # frame c: out-flow (and divisions) are the later window's
    sol = ilp.solve(model, tracking["solver"], gap=0.0, time_limit=None, threads=1)
    got = seam_nodes[KEY].merge(sol.nodes, on=KEY, validate="one_to_one")
    info = {"n_candidate_links": int(len(edges)), "solver": sol.solver, "status": sol.status}
    return got.iloc[:nb].reset_index(drop=True), got.iloc[nb:].reset_index(drop=True), sol.edges, info


def stitch(windows: dict[str, tuple[int, int]], results: dict[str, WindowResult], tracking: dict) -> Stitched:
    """One solution of the whole movie from the window solutions (``results`` keyed like ``windows``)."""
    if set(windows) != set(results):
        raise InputError(f"stitch: window results {sorted(results)} do not match the window plan {sorted(windows)}")
    owned = owned_frames(windows)
    ids = sorted(windows, key=lambda w: windows[w])
    G = int(tracking["max_gap"])
    node_parts, edge_parts = [], []
    for w in ids:
        a, b = owned[w]
        r = results[w]
        node_parts.append(r.nodes[(r.nodes["frame"] >= a) & (r.nodes["frame"] < b)])
        edge_parts.append(r.edges[(r.edges["frame"] >= a) & (dst_frame(r.edges) < b)].assign(
            frame_dst=lambda e: dst_frame(e)))
    nodes = pd.concat(node_parts, ignore_index=True)
    seams = []
    for w0, w1 in zip(ids, ids[1:]):
        c = owned[w1][0]
        decided = pd.concat(edge_parts, ignore_index=True)
        before = nodes[(nodes["frame"] >= c - G) & (nodes["frame"] < c)].reset_index(drop=True)
        after = nodes[(nodes["frame"] >= c) & (nodes["frame"] < c + G)].reset_index(drop=True)
        out_done = _flow_by_node(decided, before["frame"].to_numpy(), before["label"].to_numpy(), "src")
        in_done = _flow_by_node(decided, after["frame"].to_numpy(), after["label"].to_numpy(), "dst")
        at_cut = before["frame"].to_numpy() == c - 1
        # what is left to link across the cut (frame c − 1: everything, its division is decided again)
        left_out = np.where(at_cut, before["count"], before["count"] + before["divide"] - out_done)
        seam = {"cut": c, "windows": [w0, w1]}
        # what each window said about the crossing links (both have them when the overlap is >= 2 frames)
        said = {}
        for w in (w0, w1):
            if windows[w][0] <= c - 1 and windows[w][1] > c:
                e = results[w].edges.assign(frame_dst=lambda e: dst_frame(e))
                said[w] = e[(e["frame"] < c) & (e["frame_dst"] >= c)][EDGE_KEY]
        if before.empty and after.empty:
            seams.append(seam | {"n_links": 0})
            continue
        b_new, a_new, crossing, info = solve_seam(
            before.assign(count=np.clip(left_out, 0, int(tracking["max_count"]))),
            after.assign(count=after["count"].to_numpy() - in_done), tracking, decided)
        b_new = _settle_before(before, b_new, out_done, _flow_by_node(crossing, before["frame"].to_numpy(),
                                                                      before["label"].to_numpy(), "src"),
                               _links_by_node(pd.concat([decided, crossing]), before), at_cut, tracking)
        nodes = nodes.set_index(KEY)
        nodes.update(b_new.set_index(KEY)[["disappear", "divide"]])
        nodes.update(a_new.set_index(KEY)[["appear"]])
        nodes = nodes.reset_index()
        edge_parts.append(crossing.assign(frame_dst=lambda e: dst_frame(e)))
        mine = set(map(tuple, crossing[EDGE_KEY].to_numpy().tolist()))
        for w, e in said.items():
            theirs = set(map(tuple, e.to_numpy().tolist()))
            seam[f"links_differing_from_{w}"] = len(mine ^ theirs)
        seam |= info | {"n_links": len(mine),
                        "n_ends_at_cut": int(b_new["disappear"].sum()), "n_starts_at_cut": int(a_new["appear"].sum()),
                        "n_divisions_at_cut": int(b_new["divide"].sum())}
        seams.append(seam)
    for col in NODE_RESULT_COLUMNS:
        nodes[col] = nodes[col].astype(np.int64)
    nodes = nodes.sort_values(KEY, ignore_index=True)
    edges = pd.concat(edge_parts, ignore_index=True).sort_values(EDGE_KEY, ignore_index=True)
    edges = edges[["frame", "label_src", "label_dst", "flow", "frame_dst"]].astype(np.int64)
    return Stitched(nodes=nodes, edges=edges, seams=seams)


def _links_by_node(edges: pd.DataFrame, nodes: pd.DataFrame) -> np.ndarray:
    """Number of links leaving each object of ``nodes``."""
    return _flow_by_node(edges.assign(flow=1), nodes["frame"].to_numpy(), nodes["label"].to_numpy(), "src")


def _settle_before(before: pd.DataFrame, b_new: pd.DataFrame, out_done: np.ndarray, out_seam: np.ndarray,
                   n_links: np.ndarray, at_cut: np.ndarray, tracking: dict) -> pd.DataFrame:
    """disappear / divide of the objects before the cut from all their links: frame c − 1 as the seam decided;
    earlier frames keep their division only if it still has its two children (see the module docstring)."""
    out = out_done + out_seam
    two = out >= 2 if ilp.TrackingParams.from_dict(tracking).division_into_merger else n_links >= 2
    divide = np.where(at_cut, b_new["divide"].to_numpy(np.int64),
                      (before["divide"].to_numpy(np.int64) == 1) & two).astype(np.int64)
    disappear = np.where(at_cut, b_new["disappear"].to_numpy(np.int64),
                         before["count"].to_numpy(np.int64) + divide - out)
    return b_new.assign(divide=divide, disappear=disappear)


def check(stitched: Stitched, tracking: dict, n_frames: int) -> tuple[float, list[str]]:
    """Energy of the stitched solution under the global model of the whole movie, and every rule it breaks
    (the global model is only built, never solved)."""
    nodes = stitched.nodes
    if nodes.empty:
        return 0.0, []
    det = nodes.drop(columns=NODE_RESULT_COLUMNS)
    model = ilp.build(det, links(det, tracking), ilp.TrackingParams.from_dict(tracking), free_appearance_frames=[0],
                      free_disappearance_frames=[n_frames - 1], names=False)
    sol = ilp.TrackingSolution(nodes=nodes[KEY + NODE_RESULT_COLUMNS], edges=stitched.edges, objective=np.nan,
                               gap=None, status="stitched", solver="", reason="", seconds=0.0, n_variables=0,
                               n_constraints=0)
    energy = ilp.energy(model, sol)
    sol.objective = energy
    return energy, ilp.check_solution(model, sol)


def summary(stitched: Stitched, results: dict[str, WindowResult], energy: float) -> dict:
    """solution.json: the stitched solution's counts and energy, every window's solve, every seam."""
    ws = [results[w].summary | {"window": w} for w in sorted(results, key=lambda w: results[w].summary["frames"])]
    solved = [s for s in ws if s.get("status") != "empty"]
    statuses = {s["status"] for s in solved}
    gaps = [s["gap"] for s in solved if s.get("gap") is not None]
    return {
        "solver": ",".join(sorted({s["solver"] for s in solved})) or None,
        "reason": solved[0]["reason"] + (" (first window; every window's own in 'windows')" if len(solved) > 1 else "")
        if solved else "no objects",
        "status": "time_limit" if "time_limit" in statuses else ("optimal" if solved else "empty"),
        "gap": max(gaps) if gaps else None,
        "objective": energy,  # energy of the stitched solution under the global model
        "window_objectives": float(sum(s.get("objective") or 0.0 for s in solved)),
        "seconds": float(sum(s.get("seconds", 0.0) for s in solved)),
        "n_windows": len(ws),
        **ilp.solution_counts(stitched.nodes, stitched.edges),
        "windows": ws,
        "seams": stitched.seams,
    }


def solve_windowed(nodes: pd.DataFrame, tracking: dict, n_frames: int, window_size: int, overlap: int, *,
                   free_inner_edges: bool = True) -> tuple[Stitched, dict]:
    """The workflow's tracking in one process (notebooks, benchmarks): every window in turn, the stitch, the
    check. Returns the stitched solution and its solution.json summary."""
    from .windows import solve_window, time_windows

    plan = time_windows(n_frames, window_size, overlap)
    results = {w: solve_window(nodes, tracking, a, b, n_frames, free_inner_edges=free_inner_edges)
               for w, (a, b) in plan.items()}
    st = stitch(plan, results, tracking)
    energy, problems = check(st, tracking, n_frames)
    if problems:
        raise RuntimeError("the stitched solution is not a valid lineage:\n" + "\n".join(problems[:20]))
    return st, summary(st, results, energy)

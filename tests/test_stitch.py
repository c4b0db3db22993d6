"""Stitching window solutions into one tracking solution: validity (stitch.check) and energy against the global
optimum on generated movies, exact agreement on easy data, conflicts at the cut repaired by the seam ILP, and
the summary. Real solvers throughout."""

import copy
import json
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from helpers import movie, tracking_config
from lineageflow import stitch
from lineageflow.errors import InputError
from lineageflow.windows import (
    NODE_RESULT_COLUMNS,
    WindowResult,
    cut_frames,
    owned_frames,
    solve_window,
    time_windows,
)

N_FRAMES = 30
EDGE_KEY = ["frame", "label_src", "label_dst"]


def solve_plan(nodes, tracking, n_frames, window_size, overlap):
    windows = time_windows(n_frames, window_size, overlap)
    results = {w: solve_window(nodes, tracking, a, b, n_frames) for w, (a, b) in windows.items()}
    return windows, results


def run(nodes, tracking, n_frames, window_size, overlap):
    """(windows, results, stitched, energy, problems) of one plan."""
    windows, results = solve_plan(nodes, tracking, n_frames, window_size, overlap)
    st = stitch.stitch(windows, results, tracking)
    energy, problems = stitch.check(st, tracking, n_frames)
    return windows, results, st, energy, problems


def link_set(edges):
    return {tuple(r) for r in edges[EDGE_KEY + ["flow"]].to_numpy().tolist()}


def assert_well_formed(st, nodes):
    """Every detection exactly once, links unique with flows >= 1."""
    got = st.nodes[["frame", "label"]]
    assert not got.duplicated().any()
    assert set(map(tuple, got.to_numpy().tolist())) == set(map(tuple, nodes[["frame", "label"]].to_numpy().tolist()))
    assert not st.edges.duplicated(EDGE_KEY).any()
    assert (st.edges["flow"] >= 1).all()
    for col in NODE_RESULT_COLUMNS:
        assert st.nodes[col].dtype == np.int64


# ---------------------------------------------------------------- generated movies: validity and energy

HIGHS = tracking_config(solver="highs", gap=0.0)


@pytest.fixture(scope="module")
def noisy():
    """A 30-frame movie: 10 cells with noise, 2 divisions, 6 false and 4 missing detections, and its global
    optimum (one window, W = 0, solved by the same functions)."""
    nodes = movie(seed=0)
    _, results, st, energy, problems = run(nodes, HIGHS, N_FRAMES, 0, 0)
    assert problems == []
    (res,) = results.values()
    assert res.summary["status"] == "optimal"
    assert energy == pytest.approx(res.summary["objective"], rel=1e-9, abs=1e-6)
    return nodes, energy


@pytest.mark.parametrize(("window_size", "overlap", "solver"), [
    (10, 0, "highs"), (10, 1, "highs"), (10, 2, "highs"), (8, 5, "highs"), (12, 5, "auto"), (6, 2, "cbc"),
])
def test_stitched_solution_is_valid_and_not_below_the_global_optimum(noisy, window_size, overlap, solver):
    nodes, optimum = noisy
    check_plan(nodes, N_FRAMES, optimum, window_size, overlap, tracking_config(solver=solver, gap=0.0))


@pytest.mark.parametrize(("window_size", "overlap"), [(2, 0), (2, 1), (3, 2), (3, 0)])
def test_smallest_windows(window_size, overlap):
    # windows of 2-3 frames; with an overlap, windows own one frame only, whose appearance and disappearance
    # come from two different seams
    n = 12
    nodes = movie(seed=3, n_frames=n, n_cells=6, n_divisions=2, n_false=4, n_missing=3)
    _, _, _, optimum, problems = run(nodes, HIGHS, n, 0, 0)
    assert problems == []
    windows = check_plan(nodes, n, optimum, window_size, overlap, HIGHS)
    assert min(b - a for a, b in owned_frames(windows).values()) == (1 if overlap else window_size)


def check_plan(nodes, n_frames, optimum, window_size, overlap, tracking):
    windows, results, st, energy, problems = run(nodes, tracking, n_frames, window_size, overlap)
    assert len(windows) >= 3
    assert problems == []
    assert energy >= optimum - 1e-6
    assert_well_formed(st, nodes)
    # one seam per cut, in order, each re-solved to optimality
    cuts = cut_frames(windows)
    ids = list(windows)
    assert [s["cut"] for s in st.seams] == cuts
    assert [s["windows"] for s in st.seams] == [[a, b] for a, b in zip(ids, ids[1:])]
    # every link that crosses a cut was decided by exactly one seam
    crosses = np.zeros(len(st.edges), dtype=bool)
    for c in cuts:
        crosses |= (st.edges["frame"] < c).to_numpy() & (st.edges["frame_dst"] >= c).to_numpy()
    assert sum(s["n_links"] for s in st.seams) == int(crosses.sum())
    for s, (w0, w1) in zip(st.seams, zip(ids, ids[1:])):
        assert s["status"] == "optimal"
        crossing = (st.edges["frame"] < s["cut"]) & (st.edges["frame_dst"] >= s["cut"])
        assert s["n_links"] <= int(crossing.sum())  # a gap link may cross two cuts; the first seam decides it
        # the windows that solved both frames c - 1 and c report how the seam differs from their links
        said = {k.removeprefix("links_differing_from_") for k in s if k.startswith("links_differing_from_")}
        expect = {w for w in (w0, w1) if windows[w][0] <= s["cut"] - 1 and windows[w][1] > s["cut"]}
        assert said == expect
        shared = windows[w0][1] - windows[w1][0]  # >= overlap: the shifted last window may share more
        if shared == 0:
            assert said == set()
        elif shared == 1:
            assert said == {w0}
        else:
            assert said == {w0, w1}
    return windows


def test_auto_solver_chooses_per_model_and_reports_it(noisy):
    nodes, optimum = noisy
    tracking = tracking_config(solver="auto", gap=0.0)
    windows, results, st, energy, problems = run(nodes, tracking, N_FRAMES, 6, 2)
    assert problems == [] and energy >= optimum - 1e-6
    for res in results.values():
        assert res.summary["solver"] in ("gurobi", "cbc", "highs")
        assert res.summary["reason"].startswith("auto")
    summary = stitch.summary(st, results, energy)
    assert set(summary["solver"].split(",")) == {r.summary["solver"] for r in results.values()}


EASY_PLANS = [(10, 0), (10, 1), (10, 2), (8, 5), (6, 5), (2, 1), (7, 3)]


def test_easy_data_stitches_to_the_global_solution():
    # well-separated cells, clear divisions, no false or missing detections
    n = 20
    nodes = movie(seed=1, n_frames=n, n_false=0, n_missing=0, noise=0.8, spacing=60.0)
    _, _, glob, optimum, problems = run(nodes, HIGHS, n, 0, 0)
    assert problems == []
    assert glob.nodes["divide"].sum() == 2 and glob.nodes["count"].eq(1).all()
    for window_size, overlap in EASY_PLANS:
        _, _, st, energy, problems = run(nodes, HIGHS, n, window_size, overlap)
        assert problems == [], (window_size, overlap)
        assert link_set(st.edges) == link_set(glob.edges), (window_size, overlap)
        pd.testing.assert_frame_equal(st.nodes[["frame", "label", *NODE_RESULT_COLUMNS]],
                                      glob.nodes[["frame", "label", *NODE_RESULT_COLUMNS]])
        assert energy == pytest.approx(optimum, rel=1e-9, abs=1e-6)


def test_solve_windowed_is_the_same_pipeline(noisy):
    nodes, optimum = noisy
    st, summary = stitch.solve_windowed(nodes, HIGHS, N_FRAMES, 10, 2)
    windows, results, ref, energy, problems = run(nodes, HIGHS, N_FRAMES, 10, 2)
    assert link_set(st.edges) == link_set(ref.edges)
    assert summary["objective"] == pytest.approx(energy) and summary["objective"] >= optimum - 1e-6
    assert summary["n_windows"] == len(windows) and summary["seams"] == ref.seams


def test_empty_window_and_one_sided_seams():
    # nothing in frames 10..19: the middle window is empty, the seam at 10 has no frame 10, the one at 20 no frame 19
    nodes = movie(seed=2, n_divisions=1, gap_frames=range(10, 20))
    windows, results, st, energy, problems = run(nodes, HIGHS, N_FRAMES, 10, 0)
    assert [r.summary["status"] for r in results.values()] == ["optimal", "empty", "optimal"]
    assert problems == []
    assert_well_formed(st, nodes)
    by_frame = st.nodes.groupby("frame")[["count", "appear", "disappear"]].sum()
    assert by_frame.loc[9, "disappear"] == by_frame.loc[9, "count"] > 0  # everything ends before the gap
    assert by_frame.loc[20, "appear"] == by_frame.loc[20, "count"] > 0  # and starts after it
    assert [s["n_links"] for s in st.seams] == [0, 0]
    summary = stitch.summary(st, results, energy)
    assert summary["status"] == "optimal" and summary["n_windows"] == 3
    assert summary["solver"] == "highs"


def test_movie_without_detections():
    nodes = movie(n_frames=12, n_false=0, n_missing=0, gap_frames=range(12))
    assert nodes.empty
    windows, results, st, energy, problems = run(nodes, HIGHS, 12, 5, 2)
    assert energy == 0.0 and problems == []
    assert st.nodes.empty and st.edges.empty
    summary = stitch.summary(st, results, energy)
    assert summary["status"] == "empty" and summary["solver"] is None and summary["gap"] is None
    assert summary["n_windows"] == len(windows) and summary["n_detections"] == 0


def test_results_must_match_the_plan(noisy):
    nodes, _ = noisy
    windows, results = solve_plan(nodes, HIGHS, N_FRAMES, 10, 0)
    results.pop(next(iter(results)))
    with pytest.raises(InputError, match="do not match the window plan"):
        stitch.stitch(windows, results, HIGHS)


# ---------------------------------------------------------------- conflicts at the cut, window results by hand

ONE = (0.04, 0.92, 0.04)
TWO = (0.02, 0.08, 0.90)


def nodes_df(rows):
    """rows: (frame, label, y, x, P(count = 0, 1, 2), P(division)); far from the border."""
    recs = []
    for t, lab, y, x, pc, pdiv in rows:
        rec = {"frame": t, "label": lab, "pos_z": 0.0, "pos_y": float(y), "pos_x": float(x), "p_division": pdiv,
               "border_distance": 100.0, "border_distance_yx": 100.0}
        rec.update({f"p_count_{k}": p for k, p in enumerate(pc)})
        recs.append(rec)
    return pd.DataFrame(recs)


def hand_result(nodes, window, counts, links, divides=()):
    """A window's result from its counts {(t, label): count} (default 0), links {(t, src, dst): flow} and dividing
    detections; appearances / disappearances follow from conservation inside the window."""
    start, stop = window
    win = nodes[(nodes["frame"] >= start) & (nodes["frame"] < stop)].reset_index(drop=True)
    inflow, outflow = defaultdict(int), defaultdict(int)
    for (t, a, b), flow in links.items():
        assert start <= t and t + 1 < stop
        outflow[(t, a)] += flow
        inflow[(t + 1, b)] += flow
    keys = list(zip(win["frame"].tolist(), win["label"].tolist()))
    count = np.array([counts.get(k, 0) for k in keys], dtype=np.int64)
    divide = np.array([int(k in divides) for k in keys], dtype=np.int64)
    appear = count - np.array([inflow[k] for k in keys], dtype=np.int64)
    disappear = count + divide - np.array([outflow[k] for k in keys], dtype=np.int64)
    assert (appear >= 0).all() and (disappear >= 0).all(), "inconsistent hand-built window"
    win = win.assign(count=count, appear=appear, disappear=disappear, divide=divide)
    edges = pd.DataFrame([(t, a, b, f) for (t, a, b), f in links.items()],
                         columns=["frame", "label_src", "label_dst", "flow"]).astype(np.int64)
    summary = {"frames": [start, stop], "n_objects": len(win), "status": "optimal", "solver": "highs",
               "reason": "built by hand", "objective": 0.0, "gap": 0.0, "seconds": 0.0}
    return WindowResult(win, edges, summary)


def stitch_by_hand(nodes, n_frames, window_size, overlap, solutions, solver="highs"):
    """solutions: one (counts, links, divides) per window of the plan."""
    tracking = tracking_config(solver=solver, gap=0.0)
    windows = time_windows(n_frames, window_size, overlap)
    results = {w: hand_result(nodes, span, *sol) for (w, span), sol in zip(windows.items(), solutions)}
    st = stitch.stitch(windows, results, tracking)
    energy, problems = stitch.check(st, tracking, n_frames)
    assert problems == []
    return windows, st, energy


def node_at(st, t, label):
    return st.nodes.set_index(["frame", "label"]).loc[(t, label)]


# windows [0, 3) = A and [1, 4) = B of a 4-frame movie: the cut is frame 2 (frame 1 from A, frame 2 from B),
# and both windows solved the links 1 -> 2
A, B = "0000-0002", "0001-0003"


def test_hand_plan():
    windows = time_windows(4, 3, 2)
    assert windows == {A: (0, 3), B: (1, 4)} and cut_frames(windows) == [2]


def test_cut_object_kept_by_the_earlier_window_dropped_by_the_later():
    nodes = nodes_df([(t, 1, 50, 50 + 2 * t, ONE, 0.0) for t in range(4)])
    a = ({(0, 1): 1, (1, 1): 1, (2, 1): 1}, {(0, 1, 1): 1, (1, 1, 1): 1})  # the track runs through the cut
    b = ({(1, 1): 1}, {})  # B drops (2, 1) and (3, 1)
    _, st, _ = stitch_by_hand(nodes, 4, 3, 2, [a + ((),), b + ((),)])
    assert node_at(st, 1, 1)["count"] == 1 and node_at(st, 1, 1)["disappear"] == 1  # ends at the cut
    assert node_at(st, 2, 1)["count"] == 0 and node_at(st, 2, 1)["appear"] == 0
    assert link_set(st.edges) == {(0, 1, 1, 1)}
    (seam,) = st.seams
    assert seam["cut"] == 2 and seam["windows"] == [A, B]
    assert seam[f"links_differing_from_{A}"] == 1 and seam[f"links_differing_from_{B}"] == 0
    assert seam["n_links"] == 0 and seam["n_ends_at_cut"] == 1 and seam["n_starts_at_cut"] == 0


def division_nodes():
    # mother (label 1) in frames 0-1, P(division) 0.9 in frame 1; daughters 1 (y 45) and 2 (y 55) in frames 2-3
    return nodes_df([(0, 1, 50, 50, ONE, 0.0), (1, 1, 50, 50, ONE, 0.9),
                     (2, 1, 45, 50, ONE, 0.0), (2, 2, 55, 50, ONE, 0.0),
                     (3, 1, 44, 50, ONE, 0.0), (3, 2, 56, 50, ONE, 0.0)])


def test_division_before_the_cut_with_only_one_daughter_after_it():
    a = ({(0, 1): 1, (1, 1): 1, (2, 1): 1, (2, 2): 1}, {(0, 1, 1): 1, (1, 1, 1): 1, (1, 1, 2): 1}, {(1, 1)})
    b = ({(1, 1): 1, (2, 1): 1, (3, 1): 1}, {(1, 1, 1): 1, (2, 1, 1): 1}, ())  # B has daughter 2 inactive
    _, st, _ = stitch_by_hand(division_nodes(), 4, 3, 2, [a, b])
    mother = node_at(st, 1, 1)
    assert mother["count"] == 1 and mother["divide"] == 0 and mother["disappear"] == 0
    assert node_at(st, 2, 2)["count"] == 0
    assert link_set(st.edges) == {(0, 1, 1, 1), (1, 1, 1, 1), (2, 1, 1, 1)}
    (seam,) = st.seams
    assert seam[f"links_differing_from_{A}"] == 1 and seam[f"links_differing_from_{B}"] == 0
    assert seam["n_divisions_at_cut"] == 0 and seam["n_links"] == 1


def test_division_at_the_cut_taken_although_the_earlier_window_did_not_divide():
    # A stops its mother's second daughter (count 0 in A); B keeps both daughters and divides the mother
    a = ({(0, 1): 1, (1, 1): 1, (2, 1): 1}, {(0, 1, 1): 1, (1, 1, 1): 1}, ())
    b = ({(1, 1): 1, (2, 1): 1, (2, 2): 1, (3, 1): 1, (3, 2): 1},
         {(1, 1, 1): 1, (1, 1, 2): 1, (2, 1, 1): 1, (2, 2, 2): 1}, {(1, 1)})
    _, st, _ = stitch_by_hand(division_nodes(), 4, 3, 2, [a, b])
    mother = node_at(st, 1, 1)
    assert mother["divide"] == 1 and mother["disappear"] == 0
    assert node_at(st, 2, 2)["appear"] == 0  # a daughter, not an appearance
    assert {(1, 1, 1, 1), (1, 1, 2, 1)} <= link_set(st.edges)
    (seam,) = st.seams
    assert seam[f"links_differing_from_{A}"] == 1 and seam[f"links_differing_from_{B}"] == 0
    assert seam["n_divisions_at_cut"] == 1 and seam["n_starts_at_cut"] == 0


def merger_nodes():
    # two cells (labels 1 at y 40, 2 at y 60) in frames 0-1 merge into one detection (label 1, y 50) in frames 2-3
    return nodes_df([(0, 1, 40, 50, ONE, 0.0), (0, 2, 60, 50, ONE, 0.0), (1, 1, 41, 50, ONE, 0.0),
                     (1, 2, 59, 50, ONE, 0.0), (2, 1, 50, 50, TWO, 0.0), (3, 1, 50, 50, TWO, 0.0)])


B_MERGER = ({(1, 1): 1, (1, 2): 1, (2, 1): 2, (3, 1): 2}, {(1, 1, 1): 1, (1, 2, 1): 1, (2, 1, 1): 2}, ())


def test_merger_after_the_cut_fed_by_both_cells_although_the_earlier_window_sent_one():
    # A: the detection at frame 2 is a single cell fed by cell 1; cell 2 ends at frame 1
    a = ({(0, 1): 1, (0, 2): 1, (1, 1): 1, (1, 2): 1, (2, 1): 1}, {(0, 1, 1): 1, (0, 2, 2): 1, (1, 1, 1): 1}, ())
    _, st, _ = stitch_by_hand(merger_nodes(), 4, 3, 2, [a, B_MERGER])
    assert node_at(st, 2, 1)["count"] == 2 and node_at(st, 2, 1)["appear"] == 0
    assert node_at(st, 1, 2)["disappear"] == 0
    assert {(1, 1, 1, 1), (1, 2, 1, 1)} <= link_set(st.edges)
    (seam,) = st.seams
    assert seam[f"links_differing_from_{A}"] == 1 and seam[f"links_differing_from_{B}"] == 0
    assert seam["n_ends_at_cut"] == 0 and seam["n_starts_at_cut"] == 0


def test_merger_after_the_cut_with_one_cell_missing_before_it_appears():
    # A dropped cell 2 entirely: only one cell reaches the merger, the other must appear at the cut
    a = ({(0, 1): 1, (1, 1): 1, (2, 1): 1}, {(0, 1, 1): 1, (1, 1, 1): 1}, ())
    _, st, _ = stitch_by_hand(merger_nodes(), 4, 3, 2, [a, B_MERGER])
    merged = node_at(st, 2, 1)
    assert merged["count"] == 2 and merged["appear"] == 1
    assert node_at(st, 1, 2)["count"] == 0
    assert (1, 1, 1, 1) in link_set(st.edges) and not ((st.edges["frame"] == 1) & (st.edges["label_src"] == 2)).any()
    (seam,) = st.seams
    assert seam["n_starts_at_cut"] == 1 and seam[f"links_differing_from_{B}"] == 1


@pytest.mark.parametrize(("window_size", "overlap", "reporters"), [(2, 0, []), (3, 1, [0]), (3, 2, [0, 1])])
def test_conflict_repaired_for_overlaps_zero_one_two(window_size, overlap, reporters):
    # 5 frames, one track; the earlier window keeps it to its end, the later window drops it up to frame 3
    n = 5
    nodes = nodes_df([(t, 1, 50, 50 + 2 * t, ONE, 0.0) for t in range(n)])
    windows = time_windows(n, window_size, overlap)
    cut = cut_frames(windows)[0]
    spans = list(windows.values())
    solutions = []
    for i, (a, b) in enumerate(spans):
        if i == 0:  # the earlier window keeps the whole track
            sol = ({(t, 1): 1 for t in range(a, b)}, {(t, 1, 1): 1 for t in range(a, b - 1)}, ())
        else:  # the later ones keep only frame 4
            sol = ({(4, 1): 1} if a <= 4 < b else {}, {}, ())
        solutions.append(sol)
    windows, st, energy = stitch_by_hand(nodes, n, window_size, overlap, solutions, solver="cbc")
    ids = list(windows)
    seam = st.seams[0]
    assert seam["cut"] == cut
    prefix = "links_differing_from_"
    reported = sorted(ids.index(k.removeprefix(prefix)) for k in seam if k.startswith(prefix))
    assert reported == reporters
    assert node_at(st, cut - 1, 1)["disappear"] == 1 and node_at(st, cut, 1)["count"] == 0
    if 0 in reporters:
        assert seam[f"links_differing_from_{ids[0]}"] == 1


# ---------------------------------------------------------------- summary


def test_summary(noisy):
    nodes, _ = noisy
    windows, results, st, energy, problems = run(nodes, HIGHS, N_FRAMES, 10, 2)
    assert problems == []
    s = stitch.summary(st, results, energy)
    assert {"status", "solver", "gap", "objective", "n_windows", "windows", "seams"} <= set(s)
    assert s["status"] == "optimal" and s["solver"] == "highs"
    assert s["objective"] == energy and s["n_windows"] == len(windows) == len(s["windows"])
    assert [w["window"] for w in s["windows"]] == list(windows)
    assert s["seams"] == st.seams and len(s["seams"]) == len(windows) - 1
    assert s["gap"] == max(r.summary["gap"] for r in results.values())
    assert s["n_detections"] == len(nodes) and s["n_links"] == len(st.edges)
    assert s["n_divisions"] == st.nodes["divide"].sum()
    assert s["window_objectives"] == pytest.approx(sum(r.summary["objective"] for r in results.values()))
    json.dumps(s, default=str)

    # one window stopped by its time limit: the whole solution reports it, with the largest gap
    limited = copy.deepcopy(results)
    w = list(windows)[1]
    limited[w].summary |= {"status": "time_limit", "gap": 0.03}
    s = stitch.summary(st, limited, energy)
    assert s["status"] == "time_limit" and s["gap"] == pytest.approx(0.03)
    assert s["windows"][1]["status"] == "time_limit"

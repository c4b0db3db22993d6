"""Overlapping time windows: the plan (time_windows, cut_frames, owned_frames, chunks_of_window) and one window's
solve (solve_window) on generated movies, with the real solvers.

The generated movies (``movie``) and tracking configs (``tracking_config``) are in helpers.py, shared with
test_stitch.py.
"""

import re

import numpy as np
import pytest

from helpers import movie, tracking_config
from lineageflow import solvers, stitch
from lineageflow.errors import ConfigError
from lineageflow.solvers import SolverError
from lineageflow.windows import (
    NODE_RESULT_COLUMNS,
    chunks_of_window,
    cut_frames,
    owned_frames,
    plan_note,
    solve_window,
    time_windows,
)


def single_window(n_frames):
    return time_windows(n_frames, 0, 0)


# ---------------------------------------------------------------- time_windows


PLANS = [(30, 10, 0), (30, 10, 1), (30, 10, 2), (30, 8, 5), (30, 6, 5), (31, 7, 3), (45, 20, 5), (100, 50, 5),
         (16, 10, 5), (5, 2, 0), (5, 2, 1), (7, 3, 2), (12, 11, 10), (200, 13, 4)]


@pytest.mark.parametrize(("n", "W", "O"), PLANS)
def test_plan_shape(n, W, O):
    windows = time_windows(n, W, O)
    assert len(windows) >= 2
    spans = list(windows.values())
    assert spans == sorted(spans)
    width = max(4, len(str(n - 1)))
    for wid, (a, b) in windows.items():
        assert re.fullmatch(rf"\d{{{width}}}-\d{{{width}}}", wid), wid
        assert wid == f"{a:0{width}d}-{b - 1:0{width}d}"  # the id is the inclusive range of the half-open one
        assert 0 <= a < b <= n
        assert b - a == W  # every window has W frames, the last one too
    assert spans[0][0] == 0 and spans[-1][1] == n
    for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
        assert a0 < a1 and b0 < b1
        assert b0 - a1 >= O  # consecutive windows overlap by at least O (the last one may by more)
    for (a0, b0), (a1, b1) in zip(spans[:-2], spans[1:-1]):
        assert b0 - a1 == O  # all but the shifted last window step by exactly W - O
    covered = np.zeros(n, dtype=int)
    for a, b in spans:
        covered[a:b] += 1
    assert covered.min() >= 1


def test_plan_ids_and_ranges_by_example():
    assert time_windows(45, 20, 5) == {"0000-0019": (0, 20), "0015-0034": (15, 35), "0025-0044": (25, 45)}
    assert time_windows(30, 10, 0) == {"0000-0009": (0, 10), "0010-0019": (10, 20), "0020-0029": (20, 30)}
    # the last window is shifted back to end on the last frame with W frames
    assert time_windows(16, 10, 5) == {"0000-0009": (0, 10), "0005-0014": (5, 15), "0006-0015": (6, 16)}
    # ids widen for long movies
    assert list(time_windows(12345, 10000, 10)) == ["00000-09999", "02345-12344"]


@pytest.mark.parametrize(("n", "W", "O"), [(30, 0, 0), (30, 0, 5), (30, 30, 5), (30, 31, 5), (30, 1000, 29),
                                           (1, 0, 0), (2, 2, 1), (4, 0, 3)])
def test_window_size_zero_or_at_least_the_movie_is_one_window(n, W, O):
    assert time_windows(n, W, O) == {f"0000-{n - 1:04d}": (0, n)}


@pytest.mark.parametrize(("n", "W", "O", "key", "values"), [
    (30, 1, 0, "window_size", ["= 1"]),
    (30, -3, 0, "window_size", ["= -3"]),
    (30, 5, 5, "overlap", ["= 5", "'window_size' = 5"]),
    (30, 5, 7, "overlap", ["= 7", "'window_size' = 5"]),
    (30, 10, -1, "overlap", ["= -1"]),
])
def test_bad_plan_is_a_config_error_naming_the_key_and_values(n, W, O, key, values):
    with pytest.raises(ConfigError) as err:
        time_windows(n, W, O)
    msg = str(err.value)
    assert f"'{key}'" in msg
    for v in values:
        assert v in msg, msg


@pytest.mark.parametrize(("n", "W", "O"), [(4, 0, 5), (4, 10, 5), (4, 0, 4)])
def test_overlap_not_shorter_than_the_movie_gives_one_window_and_a_note(n, W, O):
    assert time_windows(n, W, O) == {"0000-0003": (0, 4)}
    note = plan_note(n, W, O)
    assert "'overlap'" in note and f"= {O}" in note and "4 frames" in note and "one window" in note


def test_usual_plans_have_no_note():
    assert plan_note(65, 20, 5) is None and plan_note(65, 0, 0) is None


def test_movie_without_frames_is_an_error():
    with pytest.raises(ConfigError, match="0 frames"):
        time_windows(0, 10, 2)


# ---------------------------------------------------------------- cut_frames, owned_frames


@pytest.mark.parametrize(("n", "W", "O"), PLANS)
def test_cuts_lie_in_the_middle_of_the_overlaps_and_owned_ranges_partition_the_movie(n, W, O):
    windows = time_windows(n, W, O)
    spans = list(windows.values())
    cuts = cut_frames(windows)
    assert len(cuts) == len(windows) - 1
    assert cuts == sorted(set(cuts))  # strictly increasing
    for c, (a0, b0), (a1, b1) in zip(cuts, spans, spans[1:]):
        assert a1 <= c <= b0
        if b0 > a1:  # a real overlap: the cut is inside it (frame c - 1 from the earlier window, c from the later)
            assert a1 <= c < b0 and a0 <= c - 1
        # the middle: the earlier window keeps floor(overlap / 2) frames of it, the later one the rest
        assert c - a1 == (b0 - a1) // 2
        assert abs((c - a1) - (b0 - c)) <= 1
    owned = owned_frames(windows)
    assert list(owned) == list(windows)
    parts = list(owned.values())
    assert parts[0][0] == 0 and parts[-1][1] == n
    for (_, b), (a, _) in zip(parts, parts[1:]):
        assert a == b  # contiguous, no overlap
    for wid, (a, b) in owned.items():
        assert a < b  # every window owns at least one frame
        wa, wb = windows[wid]
        assert wa <= a and b <= wb  # and only frames it solved
    assert [a for a, _ in parts[1:]] == cuts


def test_overlap_zero_cuts_at_the_window_starts():
    windows = time_windows(30, 10, 0)
    assert cut_frames(windows) == [10, 20]
    assert owned_frames(windows) == windows


def test_overlap_one_gives_the_shared_frame_to_the_later_window():
    windows = time_windows(30, 10, 1)
    assert windows == {"0000-0009": (0, 10), "0009-0018": (9, 19), "0018-0027": (18, 28), "0020-0029": (20, 30)}
    assert cut_frames(windows) == [9, 18, 24]
    assert owned_frames(windows) == {"0000-0009": (0, 9), "0009-0018": (9, 18), "0018-0027": (18, 24),
                                     "0020-0029": (24, 30)}


def test_overlap_five_cuts_after_two_shared_frames():
    windows = time_windows(30, 12, 5)
    assert list(windows.values()) == [(0, 12), (7, 19), (14, 26), (18, 30)]
    assert cut_frames(windows) == [9, 16, 22]


def test_single_window_owns_the_movie():
    windows = single_window(17)
    assert cut_frames(windows) == []
    assert owned_frames(windows) == {"0000-0016": (0, 17)}


def test_windows_with_a_gap_are_rejected():
    with pytest.raises(ConfigError, match="gap"):
        cut_frames({"a": (0, 5), "b": (6, 10)})


# ---------------------------------------------------------------- chunks_of_window


def test_chunks_of_window_reads_only_overlapping_chunks():
    chunks = {"0000-0009": (0, 10), "0010-0019": (10, 20), "0020-0029": (20, 30), "0030-0034": (30, 35)}
    # any partition of the frames into chunks (the workflow's plan spreads frames evenly: see test_plan.py)
    assert chunks_of_window(8, 15, chunks) == ["0000-0009", "0010-0019"]
    assert chunks_of_window(10, 20, chunks) == ["0010-0019"]  # half-open on both sides
    assert chunks_of_window(9, 21, chunks) == ["0000-0009", "0010-0019", "0020-0029"]
    assert chunks_of_window(0, 35, chunks) == list(chunks)
    assert chunks_of_window(34, 35, chunks) == ["0030-0034"]
    for wid, (a, b) in time_windows(35, 12, 5).items():
        picked = chunks_of_window(a, b, chunks)
        assert picked, wid
        for c, (ca, cb) in chunks.items():
            assert (c in picked) == (ca < b and cb > a)


# ---------------------------------------------------------------- solve_window


def test_empty_window_is_not_solved():
    nodes = movie(n_frames=15, n_divisions=0, n_missing=0, n_false=0, gap_frames=range(5, 10))
    # an unknown solver name would raise if any solver were chosen
    tracking = tracking_config(solver="no-such-solver")
    res = solve_window(nodes, tracking, 5, 10, 15)
    assert res.nodes.empty and res.edges.empty
    assert set(NODE_RESULT_COLUMNS) <= set(res.nodes.columns)
    assert {"frame", "label", "p_count_1", "border_distance"} <= set(res.nodes.columns)
    assert list(res.edges.columns) == ["frame", "label_src", "label_dst", "flow", "frame_dst"]
    s = res.summary
    assert s["status"] == "empty" and s["solver"] is None and s["gap"] is None
    assert s["objective"] == 0.0 and s["n_objects"] == 0 and s["frames"] == [5, 10]
    with pytest.raises(SolverError, match="no-such-solver"):  # while a window with objects does choose one
        solve_window(nodes, tracking, 3, 8, 15)


@pytest.mark.parametrize(("start", "stop"), [(0, 10), (8, 18), (20, 30), (0, 30)])
def test_window_result_has_only_its_frames(start, stop):
    nodes = movie(seed=1)
    res = solve_window(nodes, tracking_config(solver="highs"), start, stop, 30)
    inside = nodes[(nodes["frame"] >= start) & (nodes["frame"] < stop)]
    assert len(res.nodes) == len(inside)
    assert set(zip(res.nodes["frame"], res.nodes["label"])) == set(zip(inside["frame"], inside["label"]))
    assert res.nodes["frame"].between(start, stop - 1).all()
    assert res.edges["frame"].between(start, stop - 2).all()  # links stay inside: frame t -> t + g < stop
    assert (res.edges["frame_dst"] > res.edges["frame"]).all() and (res.edges["frame_dst"] < stop).all()
    assert set(NODE_RESULT_COLUMNS) <= set(res.nodes.columns)
    assert res.summary["frames"] == [start, stop] and res.summary["status"] == "optimal"
    assert res.summary["solver"] == "highs" and res.summary["n_objects"] == len(inside)
    # the window solution is a valid lineage of its frames: conservation holds for every detection
    act = res.nodes.set_index(["frame", "label"])
    inflow = res.edges.groupby(["frame_dst", "label_dst"])["flow"].sum()
    outflow = res.edges.groupby(["frame", "label_src"])["flow"].sum()
    for (t, lab), r in act.iterrows():
        assert inflow.get((t, lab), 0) + r["appear"] == r["count"]
        assert outflow.get((t, lab), 0) + r["disappear"] == r["count"] + r["divide"]


def _busy_window(n=20):
    """~800 detections, ~8600 variables: HiGHS needs a few tenths of a second for the optimum."""
    return movie(seed=5, n_frames=n, n_cells=36, n_divisions=6, n_false=40, n_missing=20, noise=3.0, spacing=22.0)


def _assert_kept_solution_is_a_valid_lineage(res, nodes, tracking, n):
    """The kept solution is a valid lineage of every detection with the reported energy."""
    assert len(res.nodes) == len(nodes)
    windows = single_window(n)
    st = stitch.stitch(windows, {w: res for w in windows}, tracking)
    energy, problems = stitch.check(st, tracking, n)
    assert problems == []
    assert energy == pytest.approx(res.summary["objective"], rel=1e-9, abs=1e-6)


def test_window_with_tiny_time_limit_keeps_its_solution():
    # a limit of 1 ns is over at HiGHS's first look at the clock on any machine, however fast or loaded, long before
    # the optimum of ~8600 variables: the solve always stops on the time limit, and a feasible solution is kept
    n = 20
    nodes = _busy_window(n)
    tracking = tracking_config(solver="highs", gap=0.0, time_limit=1e-9)
    res = solve_window(nodes, tracking, 0, n, n)
    s = res.summary
    assert s["status"] == "time_limit"
    assert s["n_variables"] > 2000
    assert "gap" in s and "bound" in s
    # the gap is recorded exactly when the solver had a finite bound when it stopped
    if s["bound"] is not None and np.isfinite(s["bound"]):
        assert s["gap"] is not None and s["gap"] > 0
        assert s["bound"] <= s["objective"] + 1e-6
    else:
        assert s["gap"] is None
    _assert_kept_solution_is_a_valid_lineage(res, nodes, tracking, n)


def test_window_stopped_mid_search_keeps_the_solution_found_and_its_gap(monkeypatch):
    """A solve stopped mid-search, after HiGHS has its bound and a first solution but before the optimum: the
    solution found is kept and its gap recorded. Where a wall-clock limit stops the search depends on the machine's
    speed, so the stop here is HiGHS's own count of improving solutions (mip_max_improving_sols = 1: deterministic
    for a fixed seed and thread count), reported as the time limit the backend reports when the clock runs out."""
    real = solvers._BACKENDS["highs"]

    def stopped_mid_search(milp, gap, time_limit, threads, seed, options):
        raw = real(milp, gap, None, threads, seed, {**options, "mip_max_improving_sols": 1})
        assert "Solution limit reached" in raw.detail and raw.x is not None, raw.detail
        raw.status = "time_limit"  # what _run_highs reports for kTimeLimit with a feasible solution
        return raw

    monkeypatch.setitem(solvers._BACKENDS, "highs", stopped_mid_search)
    n = 20
    nodes = _busy_window(n)
    # without gap links: this model (made before them) is one HiGHS does not solve at its first solution
    tracking = tracking_config(solver="highs", gap=0.0, time_limit=0.5, max_gap=1)
    res = solve_window(nodes, tracking, 0, n, n)
    s = res.summary
    assert s["status"] == "time_limit" and s["solver"] == "highs"
    assert s["n_variables"] > 2000
    # HiGHS has its root bound before its first improving solution: a finite bound below the kept solution's energy
    assert s["bound"] is not None and np.isfinite(s["bound"])
    assert s["bound"] <= s["objective"] + 1e-6
    assert s["gap"] > 0
    assert s["gap"] == pytest.approx((s["objective"] - s["bound"]) / abs(s["objective"]), rel=1e-12)
    _assert_kept_solution_is_a_valid_lineage(res, nodes, tracking, n)

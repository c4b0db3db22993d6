"""Gap closing (#11): a cell missed in one frame, or a frame without any detection, stays one track."""

import pandas as pd
import pytest

from helpers import movie, tracking_config
from lineageflow import lineage, stitch
from lineageflow.windows import time_windows, cut_frames

N_FRAMES = 30


def _solve(nodes, max_gap, window_size=10, overlap=2):
    tracking = tracking_config(solver="highs", gap=0.0, max_gap=max_gap)
    st, summary = stitch.solve_windowed(nodes, tracking, N_FRAMES, window_size, overlap)
    return st, summary


def _cell_of(nodes):
    return nodes.set_index(["frame", "label"])["cell"]


@pytest.mark.parametrize("window_size, overlap", [(0, 0), (10, 2)])
def test_missing_detections_and_an_empty_frame_keep_tracks_whole(window_size, overlap):
    # frame 9 holds no detection at all (with windows of 10 overlapping by 2, the cut between the first two
    # windows is at frame 9, so gap links cross it), and 4 single detections are missing elsewhere
    nodes = movie(seed=2, n_frames=N_FRAMES, n_false=0, n_missing=4, gap_frames=(9,))
    if window_size:
        assert 9 in cut_frames(time_windows(N_FRAMES, window_size, overlap))
    st, summary = _solve(nodes, 2, window_size, overlap)
    assert summary["objective"] == pytest.approx(summary["objective"])  # the stitched solution checked
    active = st.nodes[st.nodes["count"] > 0]
    assert len(active) == len(nodes)  # every detection is a cell
    inner = active[(active["frame"] > 0) & (active["frame"] < N_FRAMES - 1)]
    assert inner["appear"].sum() == 0 and inner["disappear"].sum() == 0  # no track breaks
    gaps = st.edges[st.edges["frame_dst"] > st.edges["frame"] + 1]
    cell = _cell_of(nodes)
    src = cell.reindex(pd.MultiIndex.from_arrays([gaps["frame"], gaps["label_src"]])).to_numpy()
    dst = cell.reindex(pd.MultiIndex.from_arrays([gaps["frame_dst"], gaps["label_dst"]])).to_numpy()
    assert (src == dst).all()  # each gap link joins a cell to itself
    n_alive_at_9 = nodes[nodes["frame"] == 8]["cell"].nunique()
    assert (gaps["frame"] == 8).sum() >= n_alive_at_9 - 1 and len(gaps) >= n_alive_at_9 + 2
    # the CTC lineage: a continuation after a gap is a new track whose parent is the old one
    lin = lineage.from_solution(active[["frame", "label"]], st.edges)
    tracks = lin.tracks.set_index("L")
    for r in gaps.itertuples():
        before = lin.nodes.set_index(["frame", "label"]).at[(r.frame, r.label_src), "track_id"]
        after = lin.nodes.set_index(["frame", "label"]).at[(r.frame_dst, r.label_dst), "track_id"]
        assert tracks.at[after, "P"] == before and tracks.at[after, "B"] == r.frame_dst


def test_without_gap_links_tracks_break_at_the_empty_frame():
    nodes = movie(seed=2, n_frames=N_FRAMES, n_false=0, n_missing=4, gap_frames=(9,))
    st1, s1 = _solve(nodes, 1, 0, 0)
    st2, s2 = _solve(nodes, 2, 0, 0)
    assert "frame_dst" in st1.edges and (st1.edges["frame_dst"] == st1.edges["frame"] + 1).all()
    at10 = st1.nodes[(st1.nodes["frame"] == 10) & (st1.nodes["count"] > 0)]
    assert len(at10) >= 8 and (at10["appear"] == at10["count"]).all()  # every cell starts again after the gap
    # the finding: a track broken by the empty frame pays a disappearance and an appearance, so the
    # tracker calls the cells of the short part before the gap false detections; with gap links all are kept
    kept = [int(((st.nodes["frame"] < 9) & (st.nodes["count"] > 0)).sum()) for st in (st1, st2)]
    assert kept[1] == int((nodes["frame"] < 9).sum()) and kept[0] <= kept[1] // 2

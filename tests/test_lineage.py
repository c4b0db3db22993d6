"""Lineage graph from a tracking solution: tracks, parents, gaps, numbering, validation."""

import networkx as nx
import pandas as pd
import pytest

from lineageflow.errors import InputError
from lineageflow.lineage import Lineage, LineageError, ctc_to_solution, from_solution, validate


def _sol(nodes, edges):
    n = pd.DataFrame(nodes, columns=["frame", "label"])
    cols = ["frame", "label_src", "label_dst"] + (["frame_dst"] if edges and len(edges[0]) == 4 else [])
    return n, pd.DataFrame(edges, columns=cols)


def _tracks(lin):
    return [tuple(int(v) for v in r) for r in lin.tracks[["L", "B", "E", "P"]].itertuples(index=False)]


def test_single_track_carries_columns():
    nodes = pd.DataFrame({"frame": [0, 1, 2], "label": [3, 5, 2], "pos_y": [1.0, 2.0, 3.0]})
    edges = pd.DataFrame({"frame": [0, 1], "label_src": [3, 5], "label_dst": [5, 2]})
    lin = from_solution(nodes, edges)
    assert _tracks(lin) == [(1, 0, 2, 0)]
    assert lin.nodes["track_id"].tolist() == [1, 1, 1]
    assert lin.nodes["lineage_id"].tolist() == [1, 1, 1]
    assert lin.graph.nodes[(1, 5)]["pos_y"] == 2.0
    assert lin.graph.nodes[(1, 5)]["track_id"] == 1
    assert set(lin.graph.edges) == {((0, 3), (1, 5)), ((1, 5), (2, 2))}
    assert lin.summary() == {
        "n_objects": 3, "n_tracks": 1, "n_divisions": 0, "n_gap_continuations": 0, "n_lineages": 1, "n_links": 2,
    }


def test_division_parent_ends_two_daughters():
    # 1 -> 1 -> {1, 2} -> {1, 2}; plus an unrelated track 7 in frames 1..2
    nodes, edges = _sol(
        [(0, 1), (1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (1, 7), (2, 7)],
        [(0, 1, 1), (1, 1, 1), (1, 1, 2), (2, 1, 1), (2, 2, 2), (1, 7, 7)],
    )
    lin = from_solution(nodes, edges)
    assert _tracks(lin) == [(1, 0, 1, 0), (2, 1, 2, 0), (3, 2, 3, 1), (4, 2, 3, 1)]
    by_obj = lin.nodes.set_index(["frame", "label"])
    assert by_obj.loc[(2, 1), "track_id"] == 3 and by_obj.loc[(2, 2), "track_id"] == 4
    assert by_obj.loc[(3, 2), "parent_track"] == 1 and by_obj.loc[(3, 2), "lineage_id"] == 1
    assert by_obj.loc[(2, 7), "lineage_id"] == 2
    assert lin.graph.edges[(1, 1), (2, 2)]["kind"] == "division"
    assert lin.summary()["n_divisions"] == 1 and lin.n_lineages == 2


def test_gap_continuation_gets_new_track_with_parent():
    # object seen in frames 0-1, missing in 2, back in 3-4 (gap-closing link 1 -> 3)
    nodes, edges = _sol(
        [(0, 4), (1, 4), (3, 9), (4, 9)],
        [(0, 4, 4, 1), (1, 4, 9, 3), (3, 9, 9, 4)],
    )
    lin = from_solution(nodes, edges)
    assert _tracks(lin) == [(1, 0, 1, 0), (2, 3, 4, 1)]
    assert lin.graph.edges[(1, 4), (3, 9)]["kind"] == "gap"
    s = lin.summary()
    assert s["n_divisions"] == 0 and s["n_gap_continuations"] == 1 and s["n_lineages"] == 1


def test_numbering_is_deterministic_by_begin_then_label():
    nodes, edges = _sol(
        [(0, 5), (0, 2), (1, 5), (1, 2), (1, 1), (2, 1)],
        [(0, 5, 5), (0, 2, 2), (1, 1, 1)],
    )
    a = from_solution(nodes, edges)
    b = from_solution(nodes.sample(frac=1, random_state=3), edges.sample(frac=1, random_state=4))
    # frame-0 tracks ordered by label (2 before 5); the track starting in frame 1 comes last
    assert _tracks(a) == [(1, 0, 1, 0), (2, 0, 1, 0), (3, 1, 2, 0)]
    assert a.nodes.set_index(["frame", "label"]).loc[(0, 2), "track_id"] == 1
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    pd.testing.assert_frame_equal(a.nodes, b.nodes)
    assert nx.utils.graphs_equal(a.graph, b.graph)


def test_empty_solution():
    lin = from_solution(pd.DataFrame(columns=["frame", "label"]), pd.DataFrame(columns=["frame", "label_src", "label_dst"]))
    assert lin.n_tracks == 0 and lin.summary()["n_objects"] == 0
    assert lin.to_dict()["tracks"] == []


@pytest.mark.parametrize(
    "nodes, edges, match",
    [
        ([(0, 1), (1, 1), (1, 2), (1, 3)], [(0, 1, 1), (0, 1, 2), (0, 1, 3)], "3 outgoing links"),
        ([(0, 1), (0, 2), (1, 1)], [(0, 1, 1), (0, 2, 1)], "more than one incoming link"),
        ([(0, 1), (1, 1)], [(0, 1, 1), (0, 1, 1)], "listed twice"),
        ([(0, 1)], [(0, 1, 4)], r"uses object \(1, 4\)"),
        ([(0, 1), (0, 1)], [], "listed twice"),
        ([(0, 0)], [], "label > 0"),
    ],
)
def test_invalid_input(nodes, edges, match):
    n, e = _sol(nodes, edges)
    with pytest.raises(InputError, match=match):
        from_solution(n, e)


def test_backward_link_and_missing_column():
    with pytest.raises(InputError, match="forward in time"):
        from_solution(*_sol([(0, 1), (2, 1)], [(2, 1, 1, 0)]))
    with pytest.raises(InputError, match="missing column 'label_dst'"):
        from_solution(pd.DataFrame({"frame": [0], "label": [1]}), pd.DataFrame({"frame": [], "label_src": []}))


def _division():
    return from_solution(*_sol([(0, 1), (1, 1), (1, 2), (2, 1)], [(0, 1, 1), (0, 1, 2), (1, 1, 1)]))


def test_validate_catches_broken_lineages():
    good = _division()
    validate(good)

    bad = Lineage(good.graph, good.tracks.copy(), good.nodes)
    bad.tracks.loc[bad.tracks["L"] == 1, "E"] = 1  # parent now ends where its children begin
    with pytest.raises(LineageError, match="parent 1 ends at frame 1"):
        validate(bad)

    bad = Lineage(good.graph, good.tracks.copy(), good.nodes)
    bad.tracks.loc[bad.tracks["L"] == 2, "E"] = 3  # track claims a frame it has no object in
    with pytest.raises(ValueError, match="one object in every frame 1..3"):
        validate(bad)

    extra = pd.DataFrame({"L": [4], "B": [1], "E": [1], "P": [1]})
    bad = Lineage(good.graph, pd.concat([good.tracks, extra], ignore_index=True), good.nodes)
    with pytest.raises(LineageError, match="track 1 has 3 children"):
        validate(bad)

    bad = Lineage(good.graph, good.tracks.assign(P=[0, 9, 1]), good.nodes)
    with pytest.raises(LineageError, match="parent 9, which is not a track"):
        validate(bad)


def test_ctc_round_trip():
    # CTC table with a division (1 -> 2, 3) and a gap continuation (3 -> 4)
    ctc = pd.DataFrame({"L": [1, 2, 3, 4], "B": [0, 3, 3, 7], "E": [2, 5, 4, 8], "P": [0, 1, 1, 3]})
    lin = from_solution(*ctc_to_solution(ctc))
    assert _tracks(lin) == [tuple(r) for r in ctc.itertuples(index=False)]
    assert lin.to_dict()["n_divisions"] == 1

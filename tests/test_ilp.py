"""Conservation-tracking model: tiny scenarios with known optima, validation, and the solution checker."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from lineageflow import ilp
from lineageflow.errors import ConfigError, InputError

SINGLE = (0.1, 0.85, 0.05)  # P(count = 0, 1, 2) of a clear single object
FALSE = (0.95, 0.04, 0.01)  # a likely false detection
MERGER = (0.02, 0.08, 0.9)  # a likely merger of two objects
INSIDE = 100.0  # far from the border


def tables(nodes, edges, n_max=2):
    """nodes: (frame, label, probs, p_division, border_distance); edges: (frame, src, dst, distance)."""
    rows = [
        {"frame": t, "label": lab, **{f"p_count_{k}": p[k] for k in range(n_max + 1)}, "p_division": pdv, "border_distance": bd}
        for t, lab, p, pdv, bd in nodes
    ]
    e = pd.DataFrame(edges, columns=["frame", "label_src", "label_dst", "distance"])
    return pd.DataFrame(rows), e


def node(t, lab, p=SINGLE, pdiv=0.0, border=INSIDE):
    return (t, lab, p, pdiv, border)


def run(nodes, edges, params=None, **kw):
    model = ilp.build(*tables(nodes, edges), params or ilp.TrackingParams(), **kw)
    sol = ilp.solve(model)
    assert ilp.check_solution(model, sol) == []
    return model, sol


def counts(sol):
    return {(r.frame, r.label): r.count for r in sol.nodes.itertuples()}


def flows(sol):
    return {(r.frame, r.label_src, r.label_dst): r.flow for r in sol.edges.itertuples()}


def single_track(n=5, d=1.0, label=1):
    return [node(t, label) for t in range(n)], [(t, label, label, d) for t in range(n - 1)]


def test_single_track_energy_is_exact():
    nodes, edges = single_track()
    model, sol = run(nodes, edges)
    assert set(counts(sol).values()) == {1}
    assert set(flows(sol).values()) == {1} and len(sol.edges) == 4
    assert sol.nodes["appear"].tolist() == [1, 0, 0, 0, 0]  # free in the first frame
    assert sol.nodes["disappear"].tolist() == [0, 0, 0, 0, 1]  # free in the last frame
    # 5 detections at −ln 0.85, 4 links at −ln e^(−1/5) = 0.2, weights 10
    assert sol.objective == pytest.approx(10 * (5 * -math.log(0.85) + 4 * 0.2), rel=1e-9)
    assert sol.status == "optimal" and sol.gap == pytest.approx(0, abs=1e-9)
    summary = sol.to_dict()
    json.dumps(summary)
    assert summary["n_links"] == 4 and summary["n_active"] == 5 and summary["n_variables"] == model.milp.n_vars


def test_false_detection_is_switched_off():
    nodes, edges = single_track()
    nodes.append(node(2, 2, FALSE))
    edges += [(1, 1, 2, 6.0), (2, 2, 1, 6.0)]
    _, sol = run(nodes, edges)
    c = counts(sol)
    assert c[(2, 2)] == 0
    assert all(c[(t, 1)] == 1 for t in range(5))
    assert (1, 1, 2) not in flows(sol) and (2, 2, 1) not in flows(sol)


def division_scenario(pdiv, border_child2=INSIDE, d2=3.0):
    nodes = [node(0, 1), node(1, 1, pdiv=pdiv), node(2, 1), node(2, 2, border=border_child2), node(3, 1), node(3, 2)]
    edges = [(0, 1, 1, 1.0), (1, 1, 1, 3.0), (1, 1, 2, d2), (2, 1, 1, 1.0), (2, 2, 2, 1.0)]
    return nodes, edges


def test_division_is_taken_and_valid():
    _, sol = run(*division_scenario(pdiv=0.9))
    n = sol.nodes.set_index(["frame", "label"])
    assert n.loc[(1, 1), "divide"] == 1 and n["divide"].sum() == 1
    f = flows(sol)
    assert f[(1, 1, 1)] == 1 and f[(1, 1, 2)] == 1
    assert set(counts(sol).values()) == {1}
    assert n["appear"].sum() == 1  # only the root, in the first frame


def test_no_division_when_unlikely_child_is_dropped():
    model, sol = run(*division_scenario(pdiv=0.01, d2=6.0))
    assert model.div_nodes.size == 0  # below the threshold: no division variable at all
    c = counts(sol)
    assert sol.nodes["divide"].sum() == 0
    assert c[(2, 2)] == 0 and c[(3, 2)] == 0  # appearing inside would cost 500, dropping ~35
    assert c[(2, 1)] == 1 and flows(sol)[(1, 1, 1)] == 1


def test_no_division_child_at_border_appears():
    _, sol = run(*division_scenario(pdiv=0.01, d2=6.0, border_child2=0.0))
    n = sol.nodes.set_index(["frame", "label"])
    assert n.loc[(2, 2), "count"] == 1 and n.loc[(2, 2), "appear"] == 1  # free at the border
    assert sol.nodes["divide"].sum() == 0


def test_division_needs_two_children():
    nodes = [node(0, 1), node(1, 1, pdiv=0.9), node(2, 1)]
    _, sol = run(nodes, [(0, 1, 1, 1.0), (1, 1, 1, 1.0)])
    assert sol.nodes["divide"].sum() == 0 and set(counts(sol).values()) == {1}


def test_merger_carries_two():
    nodes = [node(0, 1), node(0, 2), node(1, 1), node(1, 2), node(2, 1, MERGER), node(3, 1, MERGER), node(4, 1), node(4, 2)]
    edges = [(0, 1, 1, 1.0), (0, 2, 2, 1.0), (1, 1, 1, 3.0), (1, 2, 1, 3.0), (2, 1, 1, 1.0), (3, 1, 1, 3.0), (3, 1, 2, 3.0)]
    _, sol = run(nodes, edges)
    c, f = counts(sol), flows(sol)
    assert c[(2, 1)] == 2 and c[(3, 1)] == 2
    assert f[(1, 1, 1)] == 1 and f[(1, 2, 1)] == 1  # in-flow 2
    assert f[(2, 1, 1)] == 2  # the merged object moves as two
    assert f[(3, 1, 1)] == 1 and f[(3, 1, 2)] == 1  # out-flow 2, no division
    assert sol.nodes["divide"].sum() == 0 and sol.nodes["appear"].sum() == 2


def test_appearance_free_in_first_frame_and_at_border():
    nodes = [
        node(0, 1), node(1, 1), node(2, 1),  # a track from the first frame
        node(1, 2, border=0.0), node(2, 2),  # appears at the border
        node(1, 3), node(2, 3),  # appears inside
        node(1, 4, border=5.0), node(2, 4),  # half-way into the border zone
    ]  # fmt: skip
    edges = [(0, 1, 1, 1.0), (1, 1, 1, 1.0), (1, 2, 2, 1.0), (1, 3, 3, 1.0), (1, 4, 4, 1.0)]
    model, sol = run(nodes, edges)
    app = dict(zip(zip(model.nodes.frame, model.nodes.label), model.app_cost))
    assert app[(0, 1)] == 0 and app[(1, 2)] == 0 and app[(1, 3)] == 500 and app[(1, 4)] == pytest.approx(250)
    c = counts(sol)
    assert c[(0, 1)] == c[(1, 1)] == c[(2, 1)] == 1
    assert c[(1, 2)] == 1 and c[(2, 2)] == 1
    assert c[(1, 3)] == 0 and c[(2, 3)] == 0  # 500 to appear inside > ~35 to drop two detections
    assert c[(1, 4)] == 0  # 250 is still more than dropping


def test_disappearance_costly_inside_but_free_at_last_frame():
    nodes = [node(0, 1), node(1, 1), node(2, 1), node(0, 2), node(1, 2)]  # track 2 ends early, inside
    edges = [(0, 1, 1, 1.0), (1, 1, 1, 1.0), (0, 2, 2, 1.0)]
    _, sol = run(nodes, edges)
    c = counts(sol)
    assert c[(2, 1)] == 1 and sol.nodes.set_index(["frame", "label"]).loc[(2, 1), "disappear"] == 1
    assert c[(0, 2)] == 0 and c[(1, 2)] == 0  # disappearing inside costs 500


def test_no_free_frames_drops_a_short_track():
    nodes, edges = single_track(3)
    _, sol = run(nodes, edges, free_appearance_frames=(), free_disappearance_frames=())
    assert set(counts(sol).values()) == {0}  # 1000 for appear + disappear > dropping three detections
    _, sol = run(nodes, edges, free_appearance_frames=[0], free_disappearance_frames=2)
    assert set(counts(sol).values()) == {1}


def test_max_count_one():
    nodes, edges = single_track(4)
    nodes.append(node(2, 2, FALSE))
    edges += [(1, 1, 2, 6.0)]
    rows, e = tables(nodes, edges)
    params = ilp.TrackingParams(max_count=1)
    model = ilp.build(rows.drop(columns="p_count_2").assign(p_count_1=lambda d: 1 - d.p_count_0), e, params)
    assert model.cols.block("u").size == 0 and model.cols.n_cols == model.milp.n_vars  # no extra-flow variables
    sol = ilp.solve(model)
    assert ilp.check_solution(model, sol) == []
    assert counts(sol)[(2, 2)] == 0 and counts(sol)[(2, 1)] == 1


def test_weights_change_the_optimum():
    # with a tiny appearance weight, the inside track of the appearance test is kept
    nodes = [node(0, 1), node(1, 3), node(2, 3)]
    edges = [(1, 3, 3, 1.0)]
    _, sol = run(nodes, edges, ilp.TrackingParams(weights=(10, 10, 10, 1, 500)))
    assert counts(sol)[(1, 3)] == 1


def test_checker_finds_violations():
    nodes, edges = single_track()
    model, sol = run(nodes, edges)
    broken = ilp.TrackingSolution(**{**sol.__dict__, "nodes": sol.nodes.assign(count=[1, 1, 2, 1, 1])})
    problems = ilp.check_solution(model, broken)
    assert any("in-flow" in p for p in problems) and any("objective" in p for p in problems)
    extra = pd.DataFrame([{"frame": 0, "label_src": 1, "label_dst": 9, "flow": 1}])
    broken = ilp.TrackingSolution(**{**sol.__dict__, "edges": pd.concat([sol.edges, extra], ignore_index=True)})
    assert any("not candidate links" in p for p in ilp.check_solution(model, broken))
    broken = ilp.TrackingSolution(**{**sol.__dict__, "nodes": sol.nodes.assign(divide=[0, 1, 0, 0, 0])})
    assert any("divides" in p for p in ilp.check_solution(model, broken))


def test_empty_edges_and_single_frame():
    rows, e = tables([node(0, 1), node(0, 2, FALSE)], [])
    model = ilp.build(rows, e)
    sol = ilp.solve(model)
    assert ilp.check_solution(model, sol) == []
    assert counts(sol) == {(0, 1): 1, (0, 2): 0}


# ---------------------------------------------------------------- bad input


def test_edge_to_missing_node_names_the_edge():
    nodes, edges = single_track(3)
    edges.append((1, 1, 7, 2.0))
    with pytest.raises(InputError, match=r"\(frame 1, label 1\) -> \(frame 2, label 7\)"):
        ilp.build(*tables(nodes, edges))


def test_missing_columns_and_bad_probabilities():
    nodes, edges = single_track(3)
    rows, e = tables(nodes, edges)
    with pytest.raises(InputError, match="p_division"):
        ilp.build(rows.drop(columns="p_division"), e)
    with pytest.raises(InputError, match="p_count_2"):
        ilp.build(rows.drop(columns="p_count_2"), e)
    with pytest.raises(InputError, match="summing to 1"):
        ilp.build(rows.assign(p_count_1=0.5), e)
    with pytest.raises(InputError, match="more than once"):
        ilp.build(pd.concat([rows, rows.iloc[:1]]), e)
    with pytest.raises(InputError, match="distance"):
        ilp.build(rows, e.assign(distance=-1.0))
    with pytest.raises(InputError, match="label_dst"):
        ilp.build(rows, e.drop(columns="label_dst"))


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"weights": (1, 2, 3)}, "tracking.weights"),
        ({"weights": (1, 2, 3, -4, 5)}, "tracking.weights"),
        ({"max_count": 0}, "tracking.max_count"),
        ({"transition_lambda": 0}, "tracking.transition_lambda"),
        ({"division_threshold": 2}, "tracking.division_threshold"),
        ({"border_width": -1}, "tracking.border_width"),
    ],
)
def test_bad_params(kw, key):
    with pytest.raises(ConfigError, match=key):
        ilp.TrackingParams(**kw)


def test_params_from_dict_ignores_other_keys():
    p = ilp.TrackingParams.from_dict({"weights": [1, 2, 3, 4, 5], "max_count": 3, "solver": "cbc", "gap": 0.01})
    assert p.weights == (1.0, 2.0, 3.0, 4.0, 5.0, ilp.GAP_WEIGHT) and p.max_count == 3


def test_build_handles_large_models():
    rng = np.random.default_rng(0)
    n_frames, per = 50, 400
    nodes = pd.DataFrame(
        {
            "frame": np.repeat(np.arange(n_frames), per),
            "label": np.tile(np.arange(1, per + 1), n_frames),
            "p_count_0": 0.1,
            "p_count_1": 0.8,
            "p_count_2": 0.1,
            "p_division": rng.uniform(0, 0.3, n_frames * per),
            "border_distance": rng.uniform(0, 50, n_frames * per),
        }
    )
    src = np.tile(np.repeat(np.arange(1, per + 1), 3), n_frames - 1)
    edges = pd.DataFrame(
        {
            "frame": np.repeat(np.arange(n_frames - 1), per * 3),
            "label_src": src,
            "label_dst": (src + np.tile([0, 1, 2], per * (n_frames - 1)) - 1) % per + 1,
            "distance": rng.uniform(0, 20, (n_frames - 1) * per * 3),
        }
    )
    model = ilp.build(nodes, edges)
    assert model.n_nodes == n_frames * per and model.n_edges == len(edges)
    assert model.milp.n_vars > 100_000


def test_no_detections():
    e = pd.DataFrame(columns=["frame", "label_src", "label_dst", "distance"])
    rows = pd.DataFrame(columns=["frame", "label", "p_count_0", "p_count_1", "p_count_2", "p_division", "border_distance"])
    model = ilp.build(rows, e)
    sol = ilp.solve(model)
    assert model.milp.n_vars == 0 and len(sol.nodes) == 0 and ilp.check_solution(model, sol) == []


def test_solver_options_merge_with_tracking_defaults(monkeypatch):
    seen = {}
    real = ilp.solvers.solve

    def spy(milp, solver, **kw):
        seen.update(kw["options"])
        return real(milp, solver, **kw)

    monkeypatch.setattr(ilp.solvers, "solve", spy)
    nodes, edges = single_track(3)
    model = ilp.build(*tables(nodes, edges))
    ilp.solve(model, options={"highs": {"random_seed": 5}, "cbc": {"preprocess": 0}})
    assert seen["highs"] == {"presolve": "off", "random_seed": 5} and seen["cbc"] == {"preprocess": 0}

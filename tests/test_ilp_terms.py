"""The tracking model as named terms: the column layout, Φ per term, and energy = Σ_k w_k · Φ_k."""

import numpy as np
import pandas as pd
import pytest

from lineageflow import ilp
from lineageflow import ilp_terms as terms

from helpers import random_tracking

OPTIONS = [{}, {"keep_all_objects": True}, {"division_into_merger": False}, {"max_count": 1}, {"max_count": 3}]


def _nodes(seed: int, max_count: int):
    nodes, edges = random_tracking(seed, gap_links=seed == 1)
    if max_count != 2:  # re-spread the count probabilities over 0..max_count
        rng = np.random.default_rng(seed)
        p = rng.dirichlet([1] + [4] + [1] * (max_count - 1), len(nodes))
        nodes = nodes.drop(columns=[c for c in nodes if c.startswith("p_count_")])
        nodes = nodes.assign(**{f"p_count_{k}": p[:, k] for k in range(max_count + 1)})
    return nodes, edges


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_phi_is_the_solver_objective(seed, opts):
    nodes, edges = _nodes(seed, opts.get("max_count", 2))
    w = (3.0, 7.0, 2.0, 40.0, 90.0, 25.0)
    model = ilp.build(nodes, edges, ilp.TrackingParams(weights=w, **opts))
    sol = ilp.solve(model, "highs")
    assert ilp.check_solution(model, sol) == []
    x = ilp.encode(model, sol.nodes, sol.edges)
    assert model.milp.max_violation(x) <= 1e-9  # the tables encode a feasible vector...
    back_nodes, back_edges = ilp.decode(model, x)  # ...that decodes to the same tables
    pd.testing.assert_frame_equal(back_nodes, sol.nodes)
    pd.testing.assert_frame_equal(back_edges, sol.edges)
    phi = ilp.phi(model, x)
    assert phi.shape == (6,) and (phi >= 0).all()
    assert model.gap_links.any() == (seed == 1)
    assert np.dot(w, phi) == pytest.approx(sol.objective, rel=1e-9, abs=1e-9)
    assert np.dot(w, phi) == pytest.approx(ilp.energy(model, sol), rel=1e-9)


def test_phi_does_not_depend_on_the_weights():
    nodes, edges = random_tracking(3, gap_links=True)
    a = ilp.build(nodes, edges, ilp.TrackingParams(weights=(10, 10, 10, 500, 500, 100)))
    b = ilp.build(nodes, edges, ilp.TrackingParams(weights=(1, 2, 3, 4, 5, 6)))
    sol = ilp.solve(a, "highs")
    x = ilp.encode(a, sol.nodes, sol.edges)
    np.testing.assert_allclose(ilp.phi(a, x), ilp.phi(b, x))
    # the objective is linear in the weights: the cost vector is Σ_k w_k · coef_k
    assert b.milp.objective(x) == pytest.approx(np.dot((1, 2, 3, 4, 5, 6), ilp.phi(b, x)))
    # the all-zero vector (every object false) costs the terms' offsets
    zero = np.zeros(a.cols.n_cols)
    np.testing.assert_allclose(ilp.phi(a, zero), [t.offset for t in a.terms])


def test_phi_counts_what_the_solution_does():
    """Hand-made 2-frame problem: each term's Φ is the −ln or the count it should be."""
    nodes = pd.DataFrame({"frame": [0, 1, 1], "label": [1, 1, 2], "p_count_0": [0.1, 0.2, 0.3],
                          "p_count_1": [0.8, 0.7, 0.6], "p_count_2": [0.1, 0.1, 0.1], "p_division": [0.6, 0.0, 0.0],
                          "border_distance": [100.0, 100.0, 100.0]})
    edges = pd.DataFrame({"frame": [0, 0], "label_src": [1, 1], "label_dst": [1, 2], "distance": [2.0, 4.0]})
    model = ilp.build(nodes, edges, free_appearance_frames=(), free_disappearance_frames=())
    divided = model.cols.encode(count=[1, 1, 1], appear=[1, 0, 0], disappear=[0, 1, 1], divide=[1, 0, 0],
                                flow=[1, 1])
    assert model.milp.max_violation(divided) == 0
    p = np.exp(-np.array([2.0, 4.0]) / 5.0)
    want = [-np.log(p).sum(), -np.log([0.8, 0.7, 0.6]).sum(), -np.log(0.6), 1.0, 2.0, 0.0]
    np.testing.assert_allclose(ilp.phi(model, divided), want)
    # one link active, no division, the other daughter appears: the inactive link costs −ln(1 − p)
    lost = model.cols.encode(count=[1, 1, 1], appear=[1, 0, 1], disappear=[0, 1, 1], divide=[0, 0, 0], flow=[1, 0])
    assert model.milp.max_violation(lost) == 0
    want = [-np.log(p[0]) - np.log(1 - p[1]), -np.log([0.8, 0.7, 0.6]).sum(), -np.log(0.4), 2.0, 2.0, 0.0]
    np.testing.assert_allclose(ilp.phi(model, lost), want)


def test_columns_layout():
    cols = terms.Columns(n_nodes=4, n_edges=3, max_count=2, div_nodes=np.array([1, 3]))
    sizes = {b: cols.block(b).size for b in ("s", "a", "d", "div", "z", "u")}
    assert sizes == {"s": 8, "a": 4, "d": 4, "div": 2, "z": 3, "u": 3} and cols.n_cols == 24
    assert cols.state(2, 2) == 5 and list(cols.state([0, 3], [1, 2])) == [0, 7]
    x = cols.encode(count=[0, 1, 2, 1], appear=[0, 1, 0, 0], disappear=[0, 0, 2, 1], divide=[0, 1, 0, 0],
                    flow=[2, 1, 0])
    back = cols.decode(x)
    assert list(back["count"]) == [0, 1, 2, 1] and list(back["divide"]) == [0, 1, 0, 0]
    assert list(back["flow"]) == [2, 1, 0]
    assert x[cols.block("z")].tolist() == [1, 1, 0] and x[cols.block("u")].tolist() == [1, 0, 0]
    single = terms.Columns(n_nodes=2, n_edges=1, max_count=1)
    assert single.block("u").size == 0 and single.n_cols == 2 + 2 + 2 + 0 + 1


def test_model_lists_its_terms_and_constraints():
    nodes, edges = random_tracking(0)
    model = ilp.build(nodes, edges)
    assert [t.name for t in model.terms] == list(terms.TERM_NAMES)
    kinds = []
    for name in model.milp.row_names:
        kind = name.rstrip("0123456789")
        if not kinds or kinds[-1] != kind:
            kinds.append(kind)
    assert kinds == ["onehot", "in", "out", "divsingle", "divchildren", "cap", "mergeout", "mergein"]
    nodes, edges = _nodes(0, 1)
    strict = ilp.build(nodes, edges, ilp.TrackingParams(max_count=1), names=False)
    fams = ilp.constraint_families(strict.cols, strict.edges["src"].to_numpy(), strict.edges["dst"].to_numpy(),
                                   strict.params)
    assert [f.name for f in fams] == ["in", "out", "divsingle", "divchildren"]


def test_gap_link_bridges_a_missing_detection():
    """A cell missing in frame 1: one gap link 0 -> 2 at cost w_gap · ((2 − 1) + d / λ) instead of a
    disappearance and an appearance; with the gap weight above their sum the track breaks."""
    nodes = pd.DataFrame({"frame": [0, 2], "label": [1, 1], "p_count_0": [0.05, 0.05], "p_count_1": [0.9, 0.9],
                          "p_count_2": [0.05, 0.05], "p_division": [0.0, 0.0], "border_distance": [100.0, 100.0]})
    edges = pd.DataFrame({"frame": [0], "label_src": [1], "label_dst": [1], "distance": [3.0], "frame_dst": [2]})
    kw = dict(free_appearance_frames=(), free_disappearance_frames=())
    model = ilp.build(nodes, edges, ilp.TrackingParams(weights=(10, 10, 10, 500, 500, 100), keep_all_objects=True),
                      **kw)
    assert model.gap_links.tolist() == [True] and model.term("transition").columns.size == 0
    sol = ilp.solve(model, "highs")
    assert sol.edges[["frame", "label_src", "label_dst", "frame_dst", "flow"]].values.tolist() == [[0, 1, 1, 2, 1]]
    x = ilp.encode(model, sol.nodes, sol.edges)
    np.testing.assert_allclose(ilp.phi(model, x)[5], 1.0 + 3.0 / 5.0)
    assert ilp.check_solution(model, sol) == []
    dear = ilp.TrackingParams(weights=(10, 10, 10, 500, 500, 2000), keep_all_objects=True)
    broken = ilp.solve(ilp.build(nodes, edges, dear, **kw), "highs")
    assert sol.objective < broken.objective and broken.edges.empty
    assert ilp.TrackingParams(weights=(1, 2, 3, 4, 5)).w_gap == ilp.GAP_WEIGHT


def test_gap_links_must_go_forward():
    nodes, edges = random_tracking(0, gap_links=True)
    edges.loc[edges.index[-1], "frame_dst"] = edges["frame"].iat[-1]
    with pytest.raises(Exception, match="does not go forward in time"):
        ilp.build(nodes, edges)

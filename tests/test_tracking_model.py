"""The conservation-tracking ILP and its three solvers: known optima on tiny scenarios, equal optima across
Gurobi / CBC / HiGHS, and the auto fall-back."""

import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lineageflow import ilp, solvers
from lineageflow.candidates import candidate_links
from lineageflow.errors import ConfigError

N = 2


def nodes_df(rows):
    """rows: (frame, label, y, x, p_count (tuple N+1), p_division, border_distance)."""
    recs = []
    for f, lab, y, x, pc, pdv, bd in rows:
        rec = {"frame": f, "label": lab, "pos_z": 0.0, "pos_y": float(y), "pos_x": float(x), "p_division": pdv,
               "border_distance": bd}
        rec.update({f"p_count_{k}": p for k, p in enumerate(pc)})
        recs.append(rec)
    return pd.DataFrame(recs)


ONE = (0.02, 0.96, 0.02)
FALSE = (0.97, 0.02, 0.01)
TWO = (0.01, 0.04, 0.95)


def solve(nodes, solver="cbc", params=None, **kw):
    edges = candidate_links(nodes, k=3, max_distance=30)
    model = ilp.build(nodes, edges, params or ilp.TrackingParams(), **kw)
    sol = ilp.solve(model, solver)
    assert ilp.check_solution(model, sol) == []
    return model, sol


def links(sol):
    return {(int(f), int(a), int(b), int(y)) for f, a, b, y in sol.edges[["frame", "label_src", "label_dst", "flow"]].to_numpy()}


def test_single_track_and_false_detection():
    rows = [(t, 1, 50, 50 + t, ONE, 0.0, 100) for t in range(5)] + [(2, 2, 50, 80, FALSE, 0.0, 100)]
    _, sol = solve(nodes_df(rows))
    counts = dict(zip(zip(sol.nodes["frame"], sol.nodes["label"]), sol.nodes["count"]))
    assert all(counts[(t, 1)] == 1 for t in range(5)) and counts[(2, 2)] == 0
    assert links(sol) == {(t, 1, 1, 1) for t in range(4)}
    assert sol.nodes["appear"].sum() == 1 and sol.nodes["disappear"].sum() == 1  # free at first / last frame


def test_division_taken_when_probable_and_not_otherwise():
    rows = [(0, 1, 50, 50, ONE, 0.0, 100), (1, 1, 50, 50, ONE, 0.95, 100),
            (2, 1, 45, 50, ONE, 0.0, 100), (2, 2, 55, 50, ONE, 0.0, 100),
            (3, 1, 44, 50, ONE, 0.0, 100), (3, 2, 56, 50, ONE, 0.0, 100)]
    _, sol = solve(nodes_df(rows))
    assert sol.nodes.set_index(["frame", "label"]).loc[(1, 1), "divide"] == 1
    assert {(1, 1, 1, 1), (1, 1, 2, 1)} <= links(sol)
    low = [r if (r[0], r[1]) != (1, 1) else r[:5] + (0.001,) + r[6:] for r in rows]
    _, sol = solve(nodes_df(low))
    assert sol.nodes["divide"].sum() == 0
    assert sol.nodes["count"].sum() < len(rows) or sol.nodes["appear"].sum() > 1  # one daughter dropped or appears


def test_merger_carries_two_cells():
    rows = [(0, 1, 40, 50, ONE, 0.0, 100), (0, 2, 60, 50, ONE, 0.0, 100),
            (1, 1, 50, 50, TWO, 0.0, 100),
            (2, 1, 40, 50, ONE, 0.0, 100), (2, 2, 60, 50, ONE, 0.0, 100)]
    _, sol = solve(nodes_df(rows))
    assert sol.nodes.set_index(["frame", "label"]).loc[(1, 1), "count"] == 2
    assert {(0, 1, 1, 1), (0, 2, 1, 1), (1, 1, 1, 1), (1, 1, 2, 1)} == links(sol)


def test_division_into_a_merger_and_the_ilastik_restriction():
    rows = [(0, 1, 50, 50, ONE, 0.0, 100), (1, 1, 50, 50, ONE, 0.95, 100), (2, 1, 50, 50, TWO, 0.0, 100),
            (3, 1, 45, 50, ONE, 0.0, 100), (3, 2, 55, 50, ONE, 0.0, 100)]
    _, sol = solve(nodes_df(rows))
    idx = sol.nodes.set_index(["frame", "label"])
    assert idx.loc[(1, 1), "divide"] == 1 and idx.loc[(2, 1), "count"] == 2 and (1, 1, 1, 2) in links(sol)
    _, strict = solve(nodes_df(rows), params=ilp.TrackingParams(division_into_merger=False))
    assert strict.nodes["divide"].sum() == 0  # ilastik: a division needs two distinct children


def test_appearance_free_at_border_and_first_frame_costly_inside():
    # steps of 5 (p = e^-1) so that leaving a link unused is cheap, unlike a zero-length link
    inside = [(t, 1, 50, 50 + 5 * t, ONE, 0.0, 100) for t in range(2, 6)]
    border = [(t, 1, 50, 50 + 5 * t, ONE, 0.0, 0.0) for t in range(2, 6)]
    frames = dict(free_appearance_frames=[0], free_disappearance_frames=[5])
    _, s_in = solve(nodes_df(inside), **frames)
    _, s_border = solve(nodes_df(border), **frames)
    assert s_in.nodes["count"].sum() == 0  # a short track appearing mid-field is cheaper to drop
    assert s_border.nodes["count"].sum() == 4  # at the border appearing/disappearing is free
    _, s_keep = solve(nodes_df(inside), params=ilp.TrackingParams(keep_all_objects=True), **frames)
    assert s_keep.nodes["count"].min() == 1


def random_model(seed, n_frames=6, n_cells=5):
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_frames):
        for lab in range(1, n_cells + 1):
            pc = rng.dirichlet([1, 6, 1])
            rows.append((t, lab, rng.uniform(0, 60), rng.uniform(0, 60), tuple(pc), rng.uniform(0, 0.6),
                         rng.uniform(0, 30)))
    nodes = nodes_df(rows)
    return ilp.build(nodes, candidate_links(nodes, k=3, max_distance=40), ilp.TrackingParams())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gurobi_cbc_highs_agree_on_the_optimum(seed):
    model = random_model(seed)
    assert model.milp.n_vars < 2000 and model.milp.A.shape[0] < 2000  # fits the pip licence of gurobipy
    objectives = {}
    for name in ("gurobi", "cbc", "highs"):
        sol = ilp.solve(model, name)
        assert sol.solver == name and sol.status == "optimal"
        assert ilp.check_solution(model, sol) == []
        objectives[name] = sol.objective
    assert max(objectives.values()) - min(objectives.values()) < 1e-6 * max(1.0, abs(objectives["cbc"])), objectives


def test_textbook_milp_same_on_all_backends():
    # max x + y s.t. -x + y <= 1, 3x + 2y <= 12, 2x + 3y <= 12, integer → optimum 4 (x=2, y=2 among others)
    milp = solvers.MILP(c=np.array([-1.0, -1.0]), A=sp.csr_matrix([[-1, 1], [3, 2], [2, 3]], dtype=float),
                        row_lower=np.full(3, -np.inf), row_upper=np.array([1.0, 12, 12]), lb=np.zeros(2),
                        ub=np.full(2, 10.0), integrality=np.ones(2, bool))
    for name in ("gurobi", "cbc", "highs"):
        assert solvers.solve(milp, name).objective == pytest.approx(-4.0)


def test_auto_uses_gurobi_when_it_fits_and_cbc_when_too_big():
    small = random_model(0)
    assert ilp.solve(small, "auto").solver == "gurobi"
    big = random_model(1, n_frames=12, n_cells=25)
    assert big.milp.n_vars > 2000
    sol = ilp.solve(big, "auto")
    assert sol.solver == "cbc" and "size-limited" in sol.reason and "2000" in sol.reason


def test_auto_falls_back_when_gurobipy_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "gurobipy", None)  # import fails
    sol = ilp.solve(random_model(0), "auto")
    assert sol.solver == "cbc" and "gurobipy is not installed" in sol.reason


def test_unknown_and_missing_solvers_are_clear_errors(monkeypatch):
    with pytest.raises(solvers.SolverError, match="tracking.solver.*unknown solver 'cplex'"):
        ilp.solve(random_model(0), "cplex")
    monkeypatch.setitem(sys.modules, "highspy", None)
    with pytest.raises(solvers.SolverError, match="pip install highspy"):
        ilp.solve(random_model(0), "highs")


@pytest.mark.parametrize("name", ["cbc", "highs", "gurobi"])
def test_infeasible_model_is_written_and_reported(tmp_path, name):
    milp = solvers.MILP(c=np.array([1.0]), A=sp.csr_matrix([[1.0], [1.0]]), row_lower=np.array([2.0, -np.inf]),
                        row_upper=np.array([np.inf, 1.0]), lb=np.zeros(1), ub=np.full(1, 5.0),
                        integrality=np.ones(1, bool))
    path = tmp_path / "failed.lp"
    with pytest.raises(solvers.SolverError) as err:
        solvers.solve(milp, name, failed_model_path=path)
    written = [p for p in tmp_path.iterdir()]
    assert written and str(written[0].name).startswith("failed")
    assert str(tmp_path) in str(err.value)


def test_bad_weights_are_config_errors():
    with pytest.raises(ConfigError, match="tracking.weights"):
        ilp.TrackingParams(weights=(1, 2, 3))

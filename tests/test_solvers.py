"""MILP backends: same optimum everywhere, auto fallback, clear errors, failed models written."""

import itertools
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lineageflow import ilp, solvers
from lineageflow.solvers import MILP, SolverError

from conftest import skip_or_fail
from helpers import random_tracking

AVAILABLE = solvers.available_solvers()
BACKENDS = [n for n in ("gurobi", "cbc", "highs") if not AVAILABLE[n].startswith("unavailable")]


def _gurobi_small_ok() -> bool:
    return "gurobi" in BACKENDS and solvers._gurobi_licence_problem(100, 100) is None


GUROBI_OK = _gurobi_small_ok()
# Gurobi joins the comparisons when the pip package and its size-limited licence work
COMPARED = [n for n in BACKENDS if n != "gurobi" or GUROBI_OK]


def need(*names):
    """Skip unless all these backends are usable here; fail under CI (it has gurobipy with its pip licence, CBC
    and HiGHS)."""
    missing = [n for n in names if n not in COMPARED]
    if missing:
        skip_or_fail(f"solver(s) not usable here: {missing} ({[AVAILABLE[m] for m in missing]})")


# ---------------------------------------------------------------- textbook models, checked by brute force


def brute_force(m: MILP) -> float:
    """Optimum of a small pure-integer MILP by enumeration."""
    ranges = [range(int(lo), int(up) + 1) for lo, up in zip(m.lb, m.ub)]
    best = np.inf
    for x in itertools.product(*ranges):
        x = np.array(x, float)
        if m.max_violation(x) <= 1e-9:
            best = min(best, m.objective(x))
    return best


def knapsack() -> MILP:
    v, w = np.array([10, 13, 7, 8, 9, 4]), np.array([5, 6, 3, 4, 4, 2])
    return MILP(c=-v, A=sp.csr_matrix(w[None, :]), row_lower=[-np.inf], row_upper=[12], lb=0, ub=1, integrality=np.ones(6, bool))


def assignment() -> MILP:
    cost = np.array([[9, 2, 7, 8], [6, 4, 3, 7], [5, 8, 1, 8], [7, 6, 9, 4]], float)
    n = 4
    rows = [np.kron(np.eye(n)[i], np.ones(n)) for i in range(n)] + [np.kron(np.ones(n), np.eye(n)[j]) for j in range(n)]
    return MILP(c=cost.ravel(), A=sp.csr_matrix(np.array(rows)), row_lower=1, row_upper=1, lb=0, ub=1, integrality=np.ones(16, bool), objective_offset=100.0)


def random_ip(seed: int) -> MILP:
    """General integers 0..3, ranged/equality/one-sided rows, negative costs, an offset."""
    rng = np.random.default_rng(seed)
    n = 4
    A = rng.integers(-3, 4, (4, n)).astype(float)
    x0 = rng.integers(0, 4, n)  # a feasible point, so the model is feasible
    ax = A @ x0
    lo = np.array([ax[0] - 2, -np.inf, ax[2], ax[3] - 1])
    up = np.array([ax[0] + 1, ax[1] + 2, ax[2], np.inf])
    return MILP(c=rng.integers(-5, 6, n), A=A, row_lower=lo, row_upper=up, lb=0, ub=3, integrality=np.ones(n, bool), objective_offset=rng.normal())


TEXTBOOK = {"knapsack": knapsack, "assignment": assignment, **{f"random_ip_{s}": (lambda s=s: random_ip(s)) for s in range(6)}}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_textbook_optimum_all_backends(name):
    m = TEXTBOOK[name]()
    expected = brute_force(m)
    for backend in COMPARED:
        r = solvers.solve(m, backend)
        assert r.objective == pytest.approx(expected, abs=1e-6), backend
        assert m.max_violation(r.x) <= 1e-6
        assert r.status == "optimal" and r.solver == backend and r.gap == pytest.approx(0, abs=1e-6)


def test_lp_without_integers():
    # max x + y  s.t. x + 2y <= 4, 3x + y <= 6  -> x = 1.6, y = 1.2
    m = MILP(c=[-1, -1], A=[[1, 2], [3, 1]], row_lower=-np.inf, row_upper=[4, 6], lb=0, ub=np.inf, integrality=[False, False])
    for backend in COMPARED:
        r = solvers.solve(m, backend)
        assert r.objective == pytest.approx(-2.8, abs=1e-6), backend
        np.testing.assert_allclose(r.x, [1.6, 1.2], atol=1e-6)


# ---------------------------------------------------------------- random tracking models (< 2000 vars/rows)


@pytest.mark.parametrize("seed", range(5))
def test_tracking_models_same_optimum(seed):
    if len(COMPARED) < 2:
        skip_or_fail(f"fewer than two usable solvers: {AVAILABLE}")
    model = ilp.build(*random_tracking(seed))
    assert model.milp.n_vars < 2000 and model.milp.n_rows < 2000  # within Gurobi's pip licence
    objectives = {}
    for backend in COMPARED:
        sol = ilp.solve(model, backend)
        assert ilp.check_solution(model, sol) == [], backend
        assert sol.status == "optimal"
        objectives[backend] = sol.objective
    ref = objectives[COMPARED[0]]
    assert all(abs(v - ref) <= 1e-6 * max(1.0, abs(ref)) for v in objectives.values()), objectives


def test_deterministic_repeat():
    model = ilp.build(*random_tracking(11))
    for backend in COMPARED:
        a, b = solvers.solve(model.milp, backend), solvers.solve(model.milp, backend)
        np.testing.assert_array_equal(a.x, b.x)


# ---------------------------------------------------------------- choosing a solver


def test_auto_prefers_gurobi_when_licensed():
    if not GUROBI_OK:
        skip_or_fail(f"gurobipy not usable here: {AVAILABLE['gurobi']}")
    m = knapsack()
    name, reason = solvers.choose_solver("auto", m.n_vars, m.n_rows)
    assert name == "gurobi" and "licensed" in reason
    r = solvers.solve(m, "auto")
    assert r.solver == "gurobi" and r.reason == reason


def test_auto_falls_back_to_cbc_without_gurobipy(monkeypatch, caplog):
    need("cbc")
    monkeypatch.setitem(sys.modules, "gurobipy", None)  # import gurobipy now raises ImportError
    caplog.set_level("INFO", logger="lineageflow")
    r = solvers.solve(knapsack(), "auto")
    assert r.solver == "cbc"
    assert "gurobipy is not installed" in r.reason and "using CBC" in r.reason
    assert "gurobipy is not installed" in caplog.text
    assert "unavailable" in solvers.available_solvers()["gurobi"]


def test_auto_falls_back_to_highs_without_gurobi_and_cbc(monkeypatch):
    need("highs")
    monkeypatch.setitem(sys.modules, "gurobipy", None)
    monkeypatch.setitem(sys.modules, "mip", None)
    r = solvers.solve(knapsack(), "auto")
    assert r.solver == "highs" and "using HiGHS" in r.reason


def test_auto_with_nothing_installed(monkeypatch):
    for mod in ("gurobipy", "mip", "highspy"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(SolverError, match="no MILP solver is usable.*pip install"):
        solvers.solve(knapsack(), "auto")


def big_model(n=3000) -> MILP:
    """A 3000-variable knapsack-like model: beyond the pip licence's 2000 variables, trivial for CBC."""
    rng = np.random.default_rng(0)
    w = rng.integers(1, 10, n).astype(float)
    return MILP(c=-rng.integers(1, 10, n), A=sp.csr_matrix(w[None, :]), row_lower=[-np.inf], row_upper=[50], lb=0, ub=1, integrality=np.ones(n, bool))


def test_auto_falls_back_when_licence_too_small():
    if not GUROBI_OK:
        skip_or_fail(f"gurobipy not usable here: {AVAILABLE['gurobi']}")
    need("cbc")
    m = big_model()
    if solvers._gurobi_licence_problem(m.n_vars, m.n_rows) is None:
        skip_or_fail("this Gurobi licence is not size-limited")  # CI has the size-limited pip licence
    r = solvers.solve(m, "auto")
    assert r.solver == "cbc"
    assert "licence is size-limited" in r.reason and "3000 variables" in r.reason and "using CBC" in r.reason
    with pytest.raises(SolverError, match="licence is size-limited.*set tracking.solver to auto, cbc or highs"):
        solvers.solve(m, "gurobi")


def test_auto_falls_back_when_gurobi_refuses_at_solve(monkeypatch):
    """The empty-model licence probe passed but the real model is refused: fall back once."""
    if "gurobi" not in BACKENDS:
        skip_or_fail("gurobipy not installed")
    need("cbc")
    monkeypatch.setattr(solvers, "_gurobi_licence_problem", lambda n, m: None)
    monkeypatch.setitem(solvers._BACKENDS, "gurobi", lambda *a: solvers._Raw("size_limit", detail="Gurobi error 10010: too large"))
    r = solvers.solve(knapsack(), "auto")
    assert r.solver == "cbc" and "Gurobi refused the model" in r.reason


# ---------------------------------------------------------------- bad input and failures


def test_unknown_solver():
    with pytest.raises(SolverError, match=r"tracking.solver: unknown solver 'cplex'; choose one of auto, gurobi, cbc, highs"):
        solvers.solve(knapsack(), "cplex")


@pytest.mark.parametrize("name, module, package", [("highs", "highspy", "highspy"), ("cbc", "mip", "mip"), ("gurobi", "gurobipy", "gurobipy")])
def test_solver_not_installed(monkeypatch, name, module, package):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(SolverError, match=f"tracking.solver is '{name}' but {package} is not usable.*pip install {package}"):
        solvers.solve(knapsack(), name)


def infeasible() -> MILP:
    # x + y >= 3 with binaries
    return MILP(c=[1, 1], A=[[1, 1]], row_lower=[3], row_upper=[np.inf], lb=0, ub=1, integrality=[True, True], var_names=["a", "b"])


@pytest.mark.parametrize("backend", ["gurobi", "cbc", "highs"])
def test_infeasible_writes_model(backend, tmp_path):
    need(backend)
    path = tmp_path / "logs" / f"failed_{backend}.lp"
    with pytest.raises(SolverError, match="infeasible") as err:
        solvers.solve(infeasible(), backend, failed_model_path=path)
    assert str(path) in str(err.value)
    assert path.exists() and path.stat().st_size > 0


def test_infeasible_mps_and_no_path(tmp_path):
    need("highs")
    path = tmp_path / "failed.mps"
    with pytest.raises(SolverError, match="written to"):
        solvers.solve(infeasible(), "highs", failed_model_path=path)
    assert path.exists()
    with pytest.raises(SolverError, match="not written"):
        solvers.solve(infeasible(), "highs")
    with pytest.raises(SolverError, match=r"failed\.lp"):  # no suffix -> .lp added
        solvers.solve(infeasible(), "highs", failed_model_path=tmp_path / "failed")


@pytest.mark.parametrize("kw, key", [({"gap": -1}, "tracking.gap"), ({"time_limit": 0}, "tracking.time_limit"), ({"threads": 0}, "tracking.threads")])
def test_bad_parameters(kw, key):
    with pytest.raises(SolverError, match=key):
        solvers.solve(knapsack(), "auto", **kw)


# ---------------------------------------------------------------- time limit
# A real solver's progress within a tiny time limit depends on the machine, so the time-limit path is
# tested with a backend stub that reports what a solver reports when time runs out.


def test_time_limit_keeps_best_feasible_solution(monkeypatch, caplog):
    need("cbc")
    m = knapsack()
    x = np.array([1, 1, 0, 0, 0, 0], float)  # feasible (weight 11), objective −23; the optimum is −26
    monkeypatch.setitem(solvers._BACKENDS, "cbc", lambda *a: solvers._Raw("time_limit", x=x, bound=-30.0, seconds=0.5))
    r = solvers.solve(m, "cbc", time_limit=0.5)
    assert r.status == "time_limit"
    assert r.objective == -23 and r.bound == -30
    assert r.gap == pytest.approx(7 / 23)
    assert "time limit" in caplog.text


def test_time_limit_without_solution_fails_and_writes(monkeypatch, tmp_path):
    need("cbc")
    written = []
    monkeypatch.setitem(
        solvers._BACKENDS, "cbc", lambda *a: solvers._Raw("no_solution", detail="CBC status NO_SOLUTION_FOUND", write=written.append)
    )
    with pytest.raises(SolverError, match="no feasible solution was found within the time limit"):
        solvers.solve(knapsack(), "cbc", time_limit=0.1, failed_model_path=tmp_path / "m.lp")
    assert written == [str(tmp_path / "m.lp")]


@pytest.mark.parametrize("backend", ["gurobi", "cbc", "highs"])
def test_time_limit_is_passed_to_backend(backend):
    """A real solve with a generous time limit still ends optimal (the option is accepted)."""
    need(backend)
    r = solvers.solve(knapsack(), backend, time_limit=30, gap=0.01, threads=1, seed=3)
    assert r.status == "optimal" and r.objective == pytest.approx(-26)


def test_result_to_dict():
    need("highs")
    d = solvers.solve(knapsack(), "highs").to_dict()
    assert d["solver"] == "highs" and d["n_variables"] == 6 and d["status"] == "optimal" and "x" not in d


# ---------------------------------------------------------------- backend-specific options

OPTIONS = {"gurobi": {"MIPFocus": 1}, "cbc": {"preprocess": 0}, "highs": {"presolve": "off"}}
BAD_OPTIONS = {"gurobi": {"NoSuchParam": 1}, "cbc": {"no_such_attribute": 1}, "highs": {"no_such_option": 1}}


@pytest.mark.parametrize("backend", ["gurobi", "cbc", "highs"])
def test_backend_options(backend):
    need(backend)
    r = solvers.solve(knapsack(), backend, options=OPTIONS)
    assert r.objective == pytest.approx(-26)
    with pytest.raises(SolverError, match="no_such|NoSuch"):
        solvers.solve(knapsack(), backend, options=BAD_OPTIONS)


def test_options_for_unknown_backend():
    with pytest.raises(SolverError, match="unknown solver"):
        solvers.solve(knapsack(), "auto", options={"cplex": {}})

"""One MILP interface, three backends: Gurobi (gurobipy), CBC (python-mip) and HiGHS (highspy).

A model is given in matrix form (:class:`MILP`); :func:`solve` picks a backend (:func:`choose_solver`),
builds the model vectorised, solves it deterministically (fixed seed and threads) and returns a
:class:`MILPResult` that records which solver ran and why. ``solver="auto"`` tries Gurobi when it is
importable and licensed for the model's size (the pip package's licence is limited to 2000 variables and
2000 constraints), else CBC, else HiGHS.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from lineageflow.errors import LineageflowError
from lineageflow.native_output import stdout_to_log

log = logging.getLogger("lineageflow")
solver_log = logging.getLogger("lineageflow.solver")  # the solvers' own progress lines (see solver_output_logged)
_OUTPUT_LOGGED: ContextVar[bool] = ContextVar("lineageflow_solver_output_logged", default=False)

SOLVERS = ("auto", "gurobi", "cbc", "highs")
_PACKAGE = {"gurobi": "gurobipy", "cbc": "mip", "highs": "highspy"}
_LABEL = {"gurobi": "Gurobi", "cbc": "CBC", "highs": "HiGHS"}
_ABS_GAP = 1e-9  # absolute gap for every backend, so equal models give equal optima
_GUROBI_SIZE_LIMIT = 10010  # GurobiError code: "Model too large for size-limited license"


class SolverError(LineageflowError):
    """The solver is unknown, not installed, or the solve failed (infeasible, no solution in time)."""


@dataclass
class MILP:
    """minimise c·x + objective_offset  s.t. row_lower <= A x <= row_upper, lb <= x <= ub, x integer where integrality."""

    c: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integrality: np.ndarray
    var_names: list[str] | None = None
    row_names: list[str] | None = None
    objective_offset: float = 0.0
    start: np.ndarray | None = None  # a feasible point given to the solver, kept if nothing better is found in time

    def __post_init__(self) -> None:
        self.c = np.asarray(self.c, dtype=float).ravel()
        n = self.c.size
        self.A = sp.csr_matrix(self.A, dtype=float)
        if self.A.shape[1] != n:
            raise ValueError(f"A has {self.A.shape[1]} columns but c has {n} entries")
        m = self.A.shape[0]
        self.row_lower = _vec(self.row_lower, m, "row_lower")
        self.row_upper = _vec(self.row_upper, m, "row_upper")
        self.lb = _vec(self.lb, n, "lb")
        self.ub = _vec(self.ub, n, "ub")
        self.integrality = np.asarray(self.integrality, dtype=bool).ravel()
        if self.integrality.size != n:
            raise ValueError(f"integrality has {self.integrality.size} entries, expected {n}")
        self.objective_offset = float(self.objective_offset)
        if self.start is not None:
            self.start = _vec(self.start, n, "start")

    @property
    def n_vars(self) -> int:
        return int(self.c.size)

    @property
    def n_rows(self) -> int:
        return int(self.A.shape[0])

    def objective(self, x: np.ndarray) -> float:
        """c·x + offset."""
        return float(self.c @ np.asarray(x, dtype=float) + self.objective_offset)

    def max_violation(self, x: np.ndarray) -> float:
        """Largest violation of a row or bound by x (0 when feasible)."""
        x = np.asarray(x, dtype=float)
        ax = self.A @ x
        parts = [0.0]
        if ax.size:
            parts += [np.max(self.row_lower - ax), np.max(ax - self.row_upper)]
        if x.size:
            parts += [np.max(self.lb - x), np.max(x - self.ub)]
            if self.integrality.any():
                xi = x[self.integrality]
                parts.append(np.max(np.abs(xi - np.round(xi))))
        return float(max(parts))


@contextmanager
def solver_output_logged():
    """Within the block, :func:`solve` turns the backend's own log on (Gurobi's OutputFlag, CBC's log level, HiGHS's
    output_flag) and sends it, line by line, to the Python loggers ``lineageflow.solver`` (what CBC and HiGHS print)
    and ``gurobipy`` (Gurobi's own), so a rule's log file shows the solve's progress instead of nothing. The log
    level changes nothing in the search: the solutions are the same."""
    token = _OUTPUT_LOGGED.set(True)
    try:
        yield
    finally:
        _OUTPUT_LOGGED.reset(token)


def _vec(a: Any, n: int, name: str) -> np.ndarray:
    v = np.asarray(a, dtype=float).ravel()
    if v.size == 1 and n != 1:
        v = np.full(n, float(v[0]))
    if v.size != n:
        raise ValueError(f"{name} has {v.size} entries, expected {n}")
    return v


@dataclass
class MILPResult:
    """A solved MILP: solution, objective (c·x + offset of the returned x), best bound and relative gap."""

    x: np.ndarray
    objective: float
    bound: float | None
    gap: float | None
    status: str  # "optimal" (within the requested gap) or "time_limit" (best feasible solution found)
    solver: str
    reason: str
    seconds: float  # solve time
    build_seconds: float = 0.0  # time to hand the model to the backend
    solver_version: str = ""
    n_vars: int = 0
    n_rows: int = 0

    def to_dict(self) -> dict:
        """Summary for JSON (no solution vector)."""
        return {
            "solver": self.solver,
            "solver_version": self.solver_version,
            "reason": self.reason,
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": self.seconds,
            "build_seconds": self.build_seconds,
            "n_variables": self.n_vars,
            "n_constraints": self.n_rows,
        }


@dataclass
class _Raw:
    """What a backend reports; status is optimal, time_limit, infeasible, unbounded, no_solution or error."""

    status: str
    x: np.ndarray | None = None
    bound: float | None = None
    detail: str = ""
    build_seconds: float = 0.0
    seconds: float = 0.0
    write: Callable[[str], None] | None = field(default=None, repr=False)
    close: Callable[[], None] | None = field(default=None, repr=False)  # frees the backend's model/licence


# ---------------------------------------------------------------- availability and choice


def _import(package: str):
    """Import lazily so tests can hide a package via sys.modules[package] = None."""
    return importlib.import_module(package)


def _version(name: str) -> str:
    """Version string of the backend's package; raises ImportError (or the load error) when unusable."""
    if name == "gurobi":
        gp = _import("gurobipy")
        return "gurobipy " + ".".join(str(v) for v in gp.gurobi.version())
    if name == "cbc":
        mip = _import("mip")
        _import("mip.cbc")  # loads the CBC shared library
        return f"mip {getattr(mip, '__version__', '?')}"
    hs = _import("highspy")
    try:
        from importlib.metadata import version

        return f"highspy {version('highspy')}"
    except Exception:  # noqa: BLE001 - version metadata is cosmetic
        return f"highspy {hs.Highs().version()}"


def available_solvers() -> dict[str, str]:
    """Backend name -> package version, or why it cannot be used."""
    out = {}
    for name in SOLVERS[1:]:
        try:
            out[name] = _version(name)
        except Exception as err:  # noqa: BLE001 - any load failure means "unavailable"
            out[name] = f"unavailable ({type(err).__name__}: {err}); pip install {_PACKAGE[name]}"
    return out


_gurobi_probe_cache: dict[tuple[int, int, int], str | None] = {}


def _gurobi_env(gp):
    env = gp.Env(empty=True)
    env.setParam("OutputFlag", 0)  # also silences the licence banner
    env.start()
    return env


def _gurobi_licence_problem(n_vars: int, n_rows: int) -> str | None:
    """None when Gurobi can solve a model of this size, else why not (tried on an empty model of that size)."""
    gp = _import("gurobipy")
    key = (id(gp), n_vars, n_rows)
    if key in _gurobi_probe_cache:
        return _gurobi_probe_cache[key]
    problem = None
    try:
        env = _gurobi_env(gp)
        try:
            with gp.Model(env=env) as m:
                x = m.addMVar(max(n_vars, 1))
                if n_rows:
                    m.addMConstr(sp.csr_matrix((n_rows, max(n_vars, 1))), x, "<", np.zeros(n_rows))
                m.optimize()
        finally:
            env.dispose()
    except gp.GurobiError as err:
        if getattr(err, "errno", None) == _GUROBI_SIZE_LIMIT:
            problem = (
                f"its licence is size-limited (Gurobi error {_GUROBI_SIZE_LIMIT}: {err}); this model has "
                f"{n_vars} variables and {n_rows} constraints, the pip package's licence allows 2000 of each"
            )
        else:
            problem = f"it has no usable licence (Gurobi error {getattr(err, 'errno', '?')}: {err})"
    _gurobi_probe_cache[key] = problem
    return problem


def check_requested(name: str) -> None:
    """Before any job runs: a solver named by tracking.solver must be importable, and Gurobi licensed at all
    (the size limit of a pip licence is decided per model, when it is known)."""
    if name == "auto":
        return
    choose_solver(name, 1, 1)


def choose_solver(name: str, n_vars: int, n_rows: int) -> tuple[str, str]:
    """(backend, reason) for a model of this size; ``auto`` tries gurobi, cbc, highs in that order."""
    if not isinstance(name, str) or name.lower() not in SOLVERS:
        raise SolverError(f"tracking.solver: unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")
    name = name.lower()
    if name != "auto":
        try:
            version = _version(name)
        except Exception as err:  # noqa: BLE001
            raise SolverError(
                f"tracking.solver is {name!r} but {_PACKAGE[name]} is not usable ({type(err).__name__}: {err}); "
                f"pip install {_PACKAGE[name]}, or set tracking.solver to auto"
            ) from None
        if name == "gurobi":
            problem = _gurobi_licence_problem(n_vars, n_rows)
            if problem:
                raise SolverError(
                    f"tracking.solver is 'gurobi' and {version} is installed but {problem}; "
                    "install a full Gurobi licence or set tracking.solver to auto, cbc or highs"
                )
        return name, f"{version} requested by tracking.solver"

    notes = []
    try:
        version = _version("gurobi")
    except Exception:  # noqa: BLE001
        notes.append("gurobipy is not installed")
    else:
        problem = _gurobi_licence_problem(n_vars, n_rows)
        if problem is None:
            return "gurobi", f"auto: {version} is installed and licensed for this model ({n_vars} variables, {n_rows} constraints)"
        notes.append(f"{version} is present but {problem}")
    return _fallback(notes)


def _fallback(notes: list[str]) -> tuple[str, str]:
    """First usable open-source backend (CBC, then HiGHS), with the reasons Gurobi was passed over."""
    for name in ("cbc", "highs"):
        try:
            version = _version(name)
        except Exception as err:  # noqa: BLE001
            notes.append(f"{_PACKAGE[name]} is not usable ({type(err).__name__})")
            continue
        return name, f"auto: {'; '.join(notes)}; using {_LABEL[name]} ({version})"
    raise SolverError(
        f"tracking.solver is 'auto' but no MILP solver is usable ({'; '.join(notes)}); pip install mip (CBC) or highspy"
    )


# ---------------------------------------------------------------- backends


def _row_split(milp: MILP) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Rows as (A', sense, rhs) with sense in {'=', '<', '>'}; ranged rows become two rows, free rows vanish."""
    lo, up = milp.row_lower, milp.row_upper
    eq = np.flatnonzero(np.isfinite(lo) & (lo == up))
    le = np.flatnonzero(np.isfinite(up) & (lo != up))
    ge = np.flatnonzero(np.isfinite(lo) & (lo != up))
    idx = np.concatenate([eq, le, ge])
    sense = np.concatenate([np.full(eq.size, "="), np.full(le.size, "<"), np.full(ge.size, ">")])
    rhs = np.concatenate([lo[eq], up[le], lo[ge]])
    return milp.A[idx], sense, rhs


def _safe_names(names: list[str] | None, prefix: str, n: int) -> list[str]:
    if names is None or len(names) != n:
        return [f"{prefix}{i}" for i in range(n)]
    return [str(s).replace(" ", "_") for s in names]


def _run_gurobi(milp: MILP, gap: float, time_limit: float | None, threads: int, seed: int, options: dict,
                verbose: bool = False) -> _Raw:
    gp = _import("gurobipy")
    GRB = gp.GRB
    t0 = time.perf_counter()
    env = _gurobi_env(gp)
    m = gp.Model(env=env)
    # with its output on, gurobipy logs to the Python logger "gurobipy" (the rule's log) besides the console: the
    # console copy is turned off first, so each line is logged once
    for key, value in (("LogToConsole", 0), ("OutputFlag", int(verbose)), ("Threads", threads), ("Seed", seed),
                       ("MIPGap", gap), ("MIPGapAbs", _ABS_GAP)):
        m.setParam(key, value)
    if time_limit is not None:
        m.setParam("TimeLimit", float(time_limit))
    for key, value in options.items():
        try:
            m.setParam(key, value)
        except gp.GurobiError as err:
            m.dispose()
            env.dispose()
            raise SolverError(f"Gurobi option {key}={value!r}: {err}") from None
    x = m.addMVar(milp.n_vars, lb=milp.lb, ub=milp.ub, obj=milp.c, vtype=np.where(milp.integrality, GRB.INTEGER, GRB.CONTINUOUS))
    A, sense, rhs = _row_split(milp)
    if A.shape[0]:
        m.addMConstr(A, x, sense, rhs)
    m.ObjCon = milp.objective_offset
    if milp.start is not None:
        x.Start = milp.start
    m.update()

    def write(path: str) -> None:
        m.setAttr("VarName", m.getVars(), _safe_names(milp.var_names, "x", milp.n_vars))
        m.update()
        m.write(path)

    def close() -> None:
        m.dispose()
        env.dispose()  # releases the licence token at once (matters for floating licences)

    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        m.optimize()
    except gp.GurobiError as err:
        status = "size_limit" if getattr(err, "errno", None) == _GUROBI_SIZE_LIMIT else "error"
        return _Raw(status, detail=f"Gurobi error {getattr(err, 'errno', '?')}: {err}", build_seconds=build, write=write, close=close)
    secs = time.perf_counter() - t1
    st = m.Status
    has_sol = m.SolCount > 0
    xv = np.asarray(x.X, dtype=float) if has_sol else None
    bound = None
    if has_sol:
        bound = float(m.ObjBound) if m.IsMIP else float(m.ObjVal)
    if st == GRB.OPTIMAL:
        status = "optimal"
    elif st == GRB.TIME_LIMIT:
        status = "time_limit" if has_sol else "no_solution"
    elif st in (GRB.INFEASIBLE, GRB.INF_OR_UNBD):
        status = "infeasible"
    elif st == GRB.UNBOUNDED:
        status = "unbounded"
    else:
        status = "error"
    return _Raw(status, xv, bound, f"Gurobi status {st}", build, secs, write, close)


def _run_cbc(milp: MILP, gap: float, time_limit: float | None, threads: int, seed: int, options: dict,
             verbose: bool = False) -> _Raw:
    mip = _import("mip")
    t0 = time.perf_counter()
    m = mip.Model(sense=mip.MINIMIZE, solver_name=mip.CBC)
    m.verbose = int(verbose)
    names = milp.var_names if milp.var_names is not None and len(milp.var_names) == milp.n_vars else None
    cont, integ = mip.CONTINUOUS, mip.INTEGER
    add_var = m.add_var
    v = [
        add_var(name=names[j] if names else "", lb=lo, ub=up, obj=cj, var_type=integ if isint else cont)
        for j, (lo, up, cj, isint) in enumerate(
            zip(milp.lb.tolist(), milp.ub.tolist(), milp.c.tolist(), milp.integrality.tolist())
        )
    ]
    A, sense, rhs = _row_split(milp)
    indptr, indices, data = A.indptr, A.indices.tolist(), A.data.tolist()
    LinExpr, add_constr = mip.LinExpr, m.add_constr
    mip_sense = {"=": mip.EQUAL, "<": mip.LESS_OR_EQUAL, ">": mip.GREATER_OR_EQUAL}
    for r, (s, b) in enumerate(zip(sense.tolist(), rhs.tolist())):
        a, e = indptr[r], indptr[r + 1]
        # a LinExpr built directly from a dict skips xsum's per-term overhead
        add_constr(LinExpr(expr={v[j]: val for j, val in zip(indices[a:e], data[a:e])}, const=-b, sense=mip_sense[s]))
    m.threads = threads
    m.seed = seed
    m.max_mip_gap = gap
    m.max_mip_gap_abs = _ABS_GAP
    for key, value in options.items():  # python-mip Model attributes, e.g. preprocess, cuts, emphasis
        if not hasattr(m, key):
            raise SolverError(f"CBC option {key}={value!r}: python-mip's Model has no attribute {key!r}")
        setattr(m, key, value)
    if milp.start is not None:
        m.start = [(var, float(val)) for var, val in zip(v, milp.start.tolist())]
    build = time.perf_counter() - t0

    def write(path: str) -> None:
        m.write(path)

    t1 = time.perf_counter()
    st = m.optimize(max_seconds=time_limit if time_limit is not None else mip.INF)
    secs = time.perf_counter() - t1
    S = mip.OptimizationStatus
    has_sol = m.num_solutions > 0 and st in (S.OPTIMAL, S.FEASIBLE)
    xv = np.array([var.x for var in v], dtype=float) if has_sol else None
    # mip's CBC backend ignores objective_const, so CBC's gap is relative to c·x; the offset is added here
    bound = float(m.objective_bound) - m.objective_const + milp.objective_offset if has_sol else None
    if st == S.OPTIMAL:
        status = "optimal"
    elif st == S.FEASIBLE:
        status = "time_limit"
    elif st in (S.INFEASIBLE, S.INT_INFEASIBLE):
        status = "infeasible"
    elif st == S.UNBOUNDED:
        status = "unbounded"
    elif st == S.NO_SOLUTION_FOUND:
        status = "no_solution"
    else:
        status = "error"
    return _Raw(status, xv, bound, f"CBC status {st.name}", build, secs, write)


def _run_highs(milp: MILP, gap: float, time_limit: float | None, threads: int, seed: int, options: dict,
               verbose: bool = False) -> _Raw:
    hs = _import("highspy")
    t0 = time.perf_counter()
    # HiGHS keeps one global thread pool; it must be reset before a run with another thread count
    hs.Highs.resetGlobalScheduler(True)
    h = hs.Highs()
    for key, value in (
        ("output_flag", bool(verbose)),
        ("threads", int(threads)),
        ("random_seed", int(seed)),
        ("mip_rel_gap", float(gap)),
        ("mip_abs_gap", _ABS_GAP),
        # HiGHS 1.15 returned a suboptimal solution as "optimal" (dual bound above a known feasible solution)
        # on a 20k-detection tracking model after a root restart; CBC and HiGHS without restarts agree.
        ("mip_allow_restart", False),
    ):
        h.setOptionValue(key, value)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    for key, value in options.items():
        if h.setOptionValue(key, value) == hs.HighsStatus.kError:
            raise SolverError(f"HiGHS option {key}={value!r} is unknown or has the wrong type")
    A = milp.A.tocsc()
    st = h.passModel(
        milp.n_vars, milp.n_rows, int(A.nnz),
        int(hs.MatrixFormat.kColwise.value), int(hs.ObjSense.kMinimize.value), milp.objective_offset,
        milp.c, milp.lb, milp.ub, milp.row_lower, milp.row_upper,
        A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float),
        milp.integrality.astype(np.int32),
    )  # fmt: skip
    if st == hs.HighsStatus.kError:
        return _Raw("error", detail="HiGHS rejected the model (passModel)")
    if milp.start is not None:
        h.setSolution(milp.n_vars, np.arange(milp.n_vars, dtype=np.int32), milp.start.astype(float))

    def write(path: str) -> None:
        if milp.var_names is not None and len(milp.var_names) == milp.n_vars:
            for j, nm in enumerate(_safe_names(milp.var_names, "x", milp.n_vars)):
                h.passColName(j, nm)
        h.writeModel(path)

    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    h.run()
    secs = time.perf_counter() - t1
    ms = h.getModelStatus()
    info = h.getInfo()
    M = hs.HighsModelStatus
    has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
    xv = np.asarray(h.getSolution().col_value, dtype=float) if has_sol else None
    bound = None
    if has_sol:
        bound = float(info.mip_dual_bound) if milp.integrality.any() else float(info.objective_function_value)
    if ms == M.kOptimal:
        status = "optimal"
    elif ms == M.kTimeLimit:
        status = "time_limit" if has_sol else "no_solution"
    elif ms in (M.kInfeasible, M.kUnboundedOrInfeasible):
        status = "infeasible"
    elif ms == M.kUnbounded:
        status = "unbounded"
    else:
        status = "error"
    return _Raw(status, xv, bound, f"HiGHS status {h.modelStatusToString(ms)}", build, secs, write)


_BACKENDS: dict[str, Callable[..., _Raw]] = {"gurobi": _run_gurobi, "cbc": _run_cbc, "highs": _run_highs}


# ---------------------------------------------------------------- solve


def _relative_gap(objective: float, bound: float | None) -> float | None:
    """Gurobi's definition |obj - bound| / |obj|, 0 when both are 0."""
    if bound is None or not math.isfinite(bound):
        return None
    diff = max(0.0, objective - bound)  # bound > objective only by rounding
    if diff <= _ABS_GAP:
        return 0.0
    return diff / abs(objective) if objective != 0 else math.inf


def _write_failed(raw: _Raw, path: str | Path | None) -> str:
    """Write the model for inspection; returns a sentence for the error message."""
    if path is None or raw.write is None:
        return "the model was not written (no failed_model_path given)"
    path = Path(path)
    if path.suffix.lower() not in (".lp", ".mps"):
        path = path.with_name(path.name + ".lp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        raw.write(str(path))
    except Exception as err:  # noqa: BLE001 - writing is best effort; the solve error matters more
        return f"writing the model to {path} failed ({err})"
    return f"the model was written to {path}"


def solve(
    milp: MILP,
    solver: str = "auto",
    *,
    gap: float = 0.0,
    time_limit: float | None = None,
    threads: int = 1,
    seed: int = 0,
    failed_model_path: str | Path | None = None,
    options: dict[str, dict] | None = None,
) -> MILPResult:
    """Solve ``milp`` with the chosen backend; see the module docstring for how ``auto`` chooses.

    ``options`` maps a backend name to its own settings, applied last (e.g. ``{"highs": {"presolve": "off"}}``,
    ``{"gurobi": {"MIPFocus": 1}}``, ``{"cbc": {"preprocess": 0}}``).
    """
    if not (isinstance(gap, (int, float)) and gap >= 0):
        raise SolverError(f"tracking.gap must be a number >= 0 (relative optimality gap), got {gap!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise SolverError(f"tracking.time_limit must be a positive number of seconds or null, got {time_limit!r}")
    if not (isinstance(threads, int) and threads >= 1):
        raise SolverError(f"tracking.threads must be an integer >= 1, got {threads!r}")
    name, reason = choose_solver(solver, milp.n_vars, milp.n_rows)
    log.info("solver: %s (%s)", name, reason)
    if milp.n_vars == 0:  # nothing to decide (e.g. a window without detections)
        return MILPResult(np.zeros(0), milp.objective_offset, milp.objective_offset, 0.0, "optimal", name, reason, 0.0,
                          solver_version=_version(name), n_rows=milp.n_rows)  # fmt: skip
    options = options or {}
    unknown = set(options) - set(SOLVERS[1:])
    if unknown:
        raise SolverError(f"solver options given for unknown solver(s) {sorted(unknown)}; use gurobi, cbc or highs")

    def run(backend: str) -> _Raw:
        args = (milp, float(gap), time_limit, int(threads), int(seed), dict(options.get(backend, {})))
        if not _OUTPUT_LOGGED.get():
            return _BACKENDS[backend](*args)
        with stdout_to_log(solver_log):
            return _BACKENDS[backend](*args, verbose=True)

    raw = run(name)
    if raw.status == "size_limit" and str(solver).lower() == "auto":
        # the empty-model probe passed but the real model did not: fall back once
        _close(raw)
        name, reason = _fallback([f"Gurobi refused the model ({raw.detail})"])
        log.info("solver: %s (%s)", name, reason)
        raw = run(name)
    try:
        return _result(milp, raw, name, reason, time_limit, failed_model_path)
    finally:
        _close(raw)


def _close(raw: _Raw) -> None:
    if raw.close is not None:
        raw.close()
        raw.close = None


def _result(milp: MILP, raw: _Raw, name: str, reason: str, time_limit, failed_model_path) -> MILPResult:
    """MILPResult from a backend's report, or SolverError (with the model written) when there is no solution."""
    label = _LABEL[name]
    if raw.status == "no_solution" and milp.start is not None and milp.max_violation(milp.start) <= 1e-6:
        # the solver stopped before it looked at our start (CBC does under very short limits): keep the start
        log.warning("%s found no solution within %s s; keeping the start solution given to it", label, time_limit)
        raw.status, raw.x, raw.detail = "time_limit", milp.start, raw.detail + "; start solution kept"
    if raw.status not in ("optimal", "time_limit") or raw.x is None:
        what = {
            "infeasible": "the model is infeasible",
            "unbounded": "the model is unbounded",
            "no_solution": f"no feasible solution was found within the time limit ({time_limit} s)",
            "size_limit": "the model is too large for the Gurobi licence",
        }.get(raw.status, "the solve failed")
        where = _write_failed(raw, failed_model_path)
        raise SolverError(f"{label}: {what} ({raw.detail}); {where}")
    x = np.asarray(raw.x, dtype=float).copy()
    x[milp.integrality] = np.round(x[milp.integrality])  # solvers return 0.9999999 for 1
    np.clip(x, milp.lb, milp.ub, out=x)
    objective = milp.objective(x)
    gap_value = _relative_gap(objective, raw.bound)
    if raw.status == "time_limit":
        log.warning("%s hit the time limit (%s s); using the best feasible solution, gap %s", label, time_limit, gap_value)
    return MILPResult(
        x=x,
        objective=objective,
        bound=raw.bound,
        gap=gap_value,
        status=raw.status,
        solver=name,
        reason=reason,
        seconds=raw.seconds,
        build_seconds=raw.build_seconds,
        solver_version=_version(name),
        n_vars=milp.n_vars,
        n_rows=milp.n_rows,
    )


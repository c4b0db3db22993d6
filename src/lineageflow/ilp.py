"""The conservation-tracking model (ilastik / hytra "ConservationTracking"), built as one MILP.

Per detection i (frame t, label l):

* state binaries s_i^k, k = 1..N, with Σ_k s_i^k <= 1; the count is x_i = Σ_k k·s_i^k (all zero = state 0,
  a false detection). This is the one-hot encoding with s_i^0 eliminated (s_i^0 = 1 − Σ_k s_i^k).
* appearance a_i and disappearance d_i in 0..N (continuous in the MILP; the equality rows below make them
  integral once states and flows are),
* division δ_i ∈ {0, 1}, only where P(division) > ``division_threshold``.

Per candidate link e = (i → j): an "active" binary z_e and extra flow u_e ∈ 0..N−1 (only when N >= 2), so the
flow is y_e = z_e + u_e ∈ 0..N and y_e >= 1 exactly when the link is active (the transition energy differs
between flow 0 and flow >= 1, not between flows >= 1, as in ilastik).

Rows: Σ_in y + a_i = x_i;  Σ_out y + d_i = x_i + δ_i;  δ_i <= s_i^1 (only single objects divide);
Σ_out z >= 2 δ_i (two distinct active children, so each child gets flow 1);  u_e <= (N − 1)·z_e.

Energy (what is minimised; constants go into the objective offset so the objective is the true energy):

* detection   w_det · −ln P_i(count = x_i)
* transition  w_tr · −ln p_e if the link is active, else w_tr · −ln(1 − p_e), with p_e = exp(−d_e / λ)
  (ilastik's distance-based transition, λ = "transition parameter", default 5 in physical units)
* division    w_div · −ln P_i(div) if δ_i = 1, else w_div · −ln(1 − P_i(div)) (only for division candidates)
* appearance  w_app · a_i · f_i, disappearance w_dis · d_i · f_i, with f_i = min(1, border_distance_i /
  border_width) (ilastik's border-aware width), and 0 in ``free_appearance_frames`` /
  ``free_disappearance_frames`` (default: the first / the last frame).
* gap         w_gap · ((g_e − 1) + d_e / λ) for an active gap-closing link over g_e >= 2 frames (edges with
  ``frame_dst`` > ``frame`` + 1; the transition term covers the frame-to-frame links only), 0 when inactive.

Probabilities are clipped to [epsilon, 1 − epsilon] before −ln.

The column layout (``Columns``), the five unweighted terms and the constraint families are small named pieces in
:mod:`lineageflow.ilp_terms`; :func:`build` assembles them, so the energy of any solution vector x is
Σ_k w_k · Φ_k(x) with Φ = :func:`phi` (the structured-learning view of the same model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lineageflow import ilp_terms as terms
from lineageflow import solvers
from lineageflow.candidates import EDGE_KEY, dst_frame
from lineageflow.errors import ConfigError, InputError

# the gap weight when tracking.weights gives only the first five (configs and weights files from before gap links)
GAP_WEIGHT = 10.0


@dataclass
class TrackingParams:
    """Energy weights and model options (ilastik's defaults)."""

    # transition, detection, division, appearance, disappearance, gap (5 given: the gap weight is GAP_WEIGHT)
    weights: tuple = (10.0, 10.0, 10.0, 500.0, 500.0, 10.0)
    max_count: int = 2  # N: largest number of objects one detection may contain (>1 = merger)
    transition_lambda: float = 5.0  # λ in p = exp(−distance / λ), physical units (ilastik "transition parameter")
    division_threshold: float = 0.1  # division variables only where P(division) > threshold
    border_width: float = 10.0  # physical distance over which appearance/disappearance costs fade to 0 at the border
    epsilon: float = 1e-6  # probability clipping for −ln
    # a dividing cell may hand both daughters to one child object (a merger, split afterwards): sisters often
    # touch right after mitosis and are segmented as one object; ilastik's model cannot represent that
    division_into_merger: bool = True
    keep_all_objects: bool = False  # every detection holds at least one cell (trusted segmentation)

    def __post_init__(self) -> None:
        w = tuple(float(v) for v in np.ravel(self.weights)) if np.ndim(self.weights) else ()
        if len(w) not in (5, 6) or not all(np.isfinite(w)) or min(w) < 0:
            raise ConfigError(
                "tracking.weights must be 6 non-negative numbers "
                f"[transition, detection, division, appearance, disappearance, gap] (or the first 5), got {self.weights!r}"
            )
        self.weights = w if len(w) == 6 else (*w, GAP_WEIGHT)
        if not (isinstance(self.max_count, (int, np.integer)) and self.max_count >= 1):
            raise ConfigError(f"tracking.max_count must be an integer >= 1, got {self.max_count!r}")
        self.max_count = int(self.max_count)
        if not self.transition_lambda > 0:
            raise ConfigError(f"tracking.transition_lambda must be > 0, got {self.transition_lambda!r}")
        if not 0 <= self.division_threshold <= 1:
            raise ConfigError(f"tracking.division_threshold must be in [0, 1], got {self.division_threshold!r}")
        if not self.border_width >= 0:
            raise ConfigError(f"tracking.border_width must be >= 0, got {self.border_width!r}")
        if not 0 < self.epsilon < 0.5:
            raise ConfigError(f"tracking.epsilon must be in (0, 0.5), got {self.epsilon!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrackingParams":
        """Build from a config mapping, taking only the keys that are fields of this class."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def w_transition(self) -> float:
        return self.weights[0]

    @property
    def w_detection(self) -> float:
        return self.weights[1]

    @property
    def w_division(self) -> float:
        return self.weights[2]

    @property
    def w_appearance(self) -> float:
        return self.weights[3]

    @property
    def w_disappearance(self) -> float:
        return self.weights[4]

    @property
    def w_gap(self) -> float:
        return self.weights[5]


@dataclass
class TrackingModel:
    """The MILP, the column layout and the energy terms it was assembled from, and the validated input."""

    nodes: pd.DataFrame  # validated input nodes, index 0..n-1
    edges: pd.DataFrame  # validated input edges, index 0..E-1, with node indices src, dst
    params: TrackingParams
    cols: terms.Columns
    terms: list  # terms.Term, in the order of params.weights
    milp: solvers.MILP | None = None
    build_seconds: float = 0.0

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def div_nodes(self) -> np.ndarray:
        return self.cols.div_nodes

    @property
    def gap_links(self) -> np.ndarray:
        """Whether each candidate link is a gap-closing one (over more than one frame)."""
        return (self.edges["frame_dst"] - self.edges["frame"]).to_numpy() > 1

    def term(self, name: str) -> terms.Term:
        return self.terms[terms.TERM_NAMES.index(name)]

    def weighted(self, name: str) -> np.ndarray:
        """A term's per-entity energies of each choice, weighted."""
        return self.params.weights[terms.TERM_NAMES.index(name)] * self.term(name).choices

    @property
    def det_energy(self) -> np.ndarray:  # (n, N+1): w_det · −ln P(count = k)
        return self.weighted("detection")

    @property
    def app_cost(self) -> np.ndarray:  # (n,) per appearing cell
        return self.weighted("appearance")[:, 0]

    @property
    def dis_cost(self) -> np.ndarray:  # (n,) per disappearing cell
        return self.weighted("disappearance")[:, 0]


@dataclass
class TrackingSolution:
    """Decoded solution: every detection with its count, and the active links with their flows."""

    nodes: pd.DataFrame  # frame, label, count, appear, disappear, divide
    edges: pd.DataFrame  # frame, label_src, label_dst, flow (active links only)
    objective: float  # energy of this solution
    gap: float | None
    status: str
    solver: str
    reason: str
    seconds: float
    n_variables: int
    n_constraints: int
    build_seconds: float = 0.0
    bound: float | None = None

    def to_dict(self) -> dict:
        """JSON summary (no tables)."""
        return {
            "solver": self.solver,
            "reason": self.reason,
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": self.seconds,
            "build_seconds": self.build_seconds,
            "n_variables": self.n_variables,
            "n_constraints": self.n_constraints,
            **solution_counts(self.nodes, self.edges),
        }


def solution_counts(nodes: pd.DataFrame, edges: pd.DataFrame) -> dict[str, int]:
    """What a solution decided, counted (for logs and solution.json)."""
    count = nodes["count"]
    return {
        "n_detections": int(len(nodes)),
        "n_active": int((count > 0).sum()),
        "n_false_detections": int((count == 0).sum()),
        "n_mergers": int((count > 1).sum()),
        "n_divisions": int(nodes["divide"].sum()),
        "n_appearances": int(nodes["appear"].sum()),
        "n_disappearances": int(nodes["disappear"].sum()),
        "n_links": int(len(edges)),
    }


# ---------------------------------------------------------------- input validation

EDGE_COLUMNS = ("frame", "label_src", "label_dst", "distance")


def _count_columns(n_max: int) -> list[str]:
    return [f"p_count_{k}" for k in range(n_max + 1)]


def _obj(nodes: pd.DataFrame, mask) -> str:
    i = np.flatnonzero(np.asarray(mask))[0]
    return f"object (frame {int(nodes['frame'].iat[i])}, label {int(nodes['label'].iat[i])})"


def _edge(edges: pd.DataFrame, mask) -> str:
    i = np.flatnonzero(np.asarray(mask))[0]
    t, a, b = (int(edges[c].iat[i]) for c in ("frame", "label_src", "label_dst"))
    return f"tracking edge (frame {t}, label {a}) -> (frame {int(dst_frame(edges)[i])}, label {b})"


def _validate(nodes: pd.DataFrame, edges: pd.DataFrame, params: TrackingParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    pcols = _count_columns(params.max_count)
    need = ["frame", "label", *pcols, "p_division", "border_distance"]
    missing = [c for c in need if c not in nodes.columns]
    if missing:
        raise InputError(f"tracking nodes table lacks columns {missing} (max_count = {params.max_count} needs {pcols})")
    missing = [c for c in EDGE_COLUMNS if c not in edges.columns]
    if missing:
        raise InputError(f"tracking edges table lacks columns {missing}")
    nodes = nodes.reset_index(drop=True)
    edges = edges.reset_index(drop=True)
    nodes = nodes.assign(frame=nodes["frame"].astype(np.int64), label=nodes["label"].astype(np.int64))
    dup = nodes.duplicated(["frame", "label"])
    if dup.any():
        raise InputError(f"tracking nodes: {_obj(nodes, dup)} appears more than once")
    p = nodes[pcols].to_numpy(float)
    bad = ~np.isfinite(p).all(1) | (p < -1e-9).any(1) | (np.abs(p.sum(1) - 1) > 1e-3)
    if bad.any():
        raise InputError(f"tracking nodes: {pcols} of {_obj(nodes, bad)} must be probabilities summing to 1")
    pdiv = nodes["p_division"].to_numpy(float)
    bad = (pdiv < 0) | (pdiv > 1)
    if bad.any():
        raise InputError(f"tracking nodes: p_division of {_obj(nodes, bad)} is not in [0, 1]")
    for column in ("border_distance", *BORDER_IN_OUT):
        if column not in nodes.columns and column != "border_distance":
            continue
        bad = ~(nodes[column].to_numpy(float) >= 0)
        if bad.any():
            raise InputError(f"tracking nodes: {column} of {_obj(nodes, bad)} must be >= 0")

    edges = edges.assign(
        frame=edges["frame"].astype(np.int64),
        label_src=edges["label_src"].astype(np.int64),
        label_dst=edges["label_dst"].astype(np.int64),
        frame_dst=dst_frame(edges),
    )
    back = edges["frame_dst"] <= edges["frame"]
    if back.any():
        raise InputError(f"{_edge(edges, back)} does not go forward in time")
    key = pd.MultiIndex.from_arrays([nodes["frame"], nodes["label"]])
    src = key.get_indexer(pd.MultiIndex.from_arrays([edges["frame"], edges["label_src"]]))
    dst = key.get_indexer(pd.MultiIndex.from_arrays([edges["frame_dst"], edges["label_dst"]]))
    for arr, which in ((src, "source"), (dst, "target")):
        if (arr < 0).any():
            raise InputError(f"{_edge(edges, arr < 0)}: its {which} object is not in the nodes table")
    dup = edges.duplicated(EDGE_KEY)
    if dup.any():
        raise InputError(f"{_edge(edges, dup)} appears more than once")
    dist = edges["distance"].to_numpy(float)
    bad = ~(np.isfinite(dist) & (dist >= 0))
    if bad.any():
        raise InputError(f"{_edge(edges, bad)}: distance {dist[bad][0]} must be finite and >= 0")
    edges = edges.assign(src=src, dst=dst)
    return nodes, edges


# ---------------------------------------------------------------- build


def _frames(value: Iterable[int] | int | None, default: int | None) -> np.ndarray:
    if value is None:
        value = [] if default is None else [default]
    elif isinstance(value, (int, np.integer)):
        value = [value]
    return np.asarray(list(value), dtype=np.int64)


# with flow (config key flow), a cell may enter from where the flow brings it and leave where it takes it: the
# border distances of its position moved back / forward along the flow (objects_features writes them)
BORDER_IN_OUT = ("border_distance_in", "border_distance_out")


def _fade(nodes: pd.DataFrame, column: str, width: float) -> np.ndarray:
    """min(1, border distance / border_width): ``column`` where the nodes have it, else border_distance."""
    bd = nodes[column if column in nodes.columns else "border_distance"].to_numpy(float)
    return np.clip(bd / width, 0.0, 1.0) if width > 0 else np.ones(len(nodes))


def energy_terms(nodes: pd.DataFrame, edges: pd.DataFrame, params: TrackingParams, cols: terms.Columns,
                 free_appearance: np.ndarray, free_disappearance: np.ndarray) -> list[terms.Term]:
    """The six unweighted terms, in the order of ``params.weights``."""
    eps = params.epsilon
    fade_in, fade_out = (_fade(nodes, column, params.border_width) for column in BORDER_IN_OUT)
    dist = edges["distance"].to_numpy(float)
    span = (edges["frame_dst"] - edges["frame"]).to_numpy(np.int64)
    return [
        terms.transition(dist, params.transition_lambda, cols, eps, np.flatnonzero(span == 1)),
        terms.detection(nodes[_count_columns(params.max_count)].to_numpy(float), cols, eps),
        terms.division(nodes["p_division"].to_numpy(float), cols, eps),
        terms.appearance(fade_in, free_appearance, cols),
        terms.disappearance(fade_out, free_disappearance, cols),
        terms.gap(dist, span, params.transition_lambda, cols, np.flatnonzero(span > 1)),
    ]


def constraint_families(cols: terms.Columns, src: np.ndarray, dst: np.ndarray, params: TrackingParams) -> list[terms.Rows]:
    """Every constraint family the options ask for."""
    N, merger_div = params.max_count, params.division_into_merger
    fams = [terms.one_state(cols, params.keep_all_objects)] if N >= 2 else []
    fams += [terms.flow_in(cols, dst), terms.flow_out(cols, src)]
    if cols.n_div:
        fams += [terms.division_single(cols), terms.division_children(cols, src, merger_div)]
    if N >= 2:
        fams += [terms.extra_flow_cap(cols), terms.merger_flow(cols, src, "mergeout", merger_div),
                 terms.merger_flow(cols, dst, "mergein", merger_div)]
    return fams


def _assemble(fams: list[terms.Rows], n_cols: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, list[tuple[str, int]]]:
    offsets = np.cumsum([0] + [f.n_rows for f in fams])
    A = sp.csr_matrix(
        (np.concatenate([f.val for f in fams]) if fams else np.zeros(0),
         (np.concatenate([f.row + o for f, o in zip(fams, offsets)]) if fams else np.zeros(0, np.int64),
          np.concatenate([f.col for f in fams]) if fams else np.zeros(0, np.int64))),
        shape=(int(offsets[-1]), n_cols),
    )  # duplicates are summed; there are none by construction
    A.eliminate_zeros()  # the (k − 1) s^k terms are 0 for k = 1
    lo = np.concatenate([np.full(f.n_rows, f.lower) for f in fams]) if fams else np.zeros(0)
    up = np.concatenate([np.full(f.n_rows, f.upper) for f in fams]) if fams else np.zeros(0)
    return A, lo, up, [(f.name, f.n_rows) for f in fams]


def build(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    params: TrackingParams | None = None,
    *,
    free_appearance_frames: Iterable[int] | None = None,
    free_disappearance_frames: Iterable[int] | None = None,
    names: bool = True,
) -> TrackingModel:
    """Build the conservation-tracking MILP (see the module docstring) from the terms and constraint families
    of :mod:`lineageflow.ilp_terms`.

    ``free_*_frames`` default to the first / the last frame present in ``nodes``; pass ``()`` to make
    appearance/disappearance cost everywhere. ``names=False`` skips variable names (only used when a failed
    model is written).
    """
    t0 = time.perf_counter()
    params = params or TrackingParams()
    nodes, edges = _validate(nodes, edges, params)
    N, n = params.max_count, len(nodes)
    frame = nodes["frame"].to_numpy()
    first = int(frame.min()) if n else None
    last = int(frame.max()) if n else None
    pdiv = np.nan_to_num(nodes["p_division"].to_numpy(float), nan=0.0)
    cols = terms.Columns(n, len(edges), N, np.flatnonzero(pdiv > params.division_threshold))
    model_terms = energy_terms(nodes, edges, params, cols, np.isin(frame, _frames(free_appearance_frames, first)),
                               np.isin(frame, _frames(free_disappearance_frames, last)))

    cost = np.zeros(cols.n_cols)
    offset = 0.0
    for w, term in zip(params.weights, model_terms):
        np.add.at(cost, term.columns, w * term.coef)
        offset += w * term.offset
    lb = np.zeros(cols.n_cols)
    ub = np.ones(cols.n_cols)
    integ = np.ones(cols.n_cols, dtype=bool)
    for b in ("a", "d"):
        ub[cols.block(b)] = N
        integ[cols.block(b)] = False  # integral through the conservation rows
    if N >= 2:
        ub[cols.block("u")] = N - 1
    elif params.keep_all_objects:
        lb[cols.block("s")] = 1.0
    fams = constraint_families(cols, edges["src"].to_numpy(), edges["dst"].to_numpy(), params)
    A, lo, up, row_counts = _assemble(fams, cols.n_cols)

    var_names = row_names = None
    if names:
        var_names = cols.names(nodes, edges)
        row_names = [f"{kind}{i}" for kind, cnt in row_counts for i in range(cnt)]
    model = TrackingModel(nodes=nodes, edges=edges, params=params, cols=cols, terms=model_terms, milp=None)
    milp = solvers.MILP(
        c=cost, A=A, row_lower=lo, row_upper=up, lb=lb, ub=ub, integrality=integ, var_names=var_names,
        row_names=row_names, objective_offset=offset, start=_start(model),
    )  # fmt: skip
    model.milp = milp
    model.build_seconds = time.perf_counter() - t0
    return model


def _start(model: TrackingModel) -> np.ndarray:
    """Always-feasible start (a time limit then still leaves a solution): each object's most probable count
    (at least 1 when every object must be kept), appearing and disappearing where it is; no links, no divisions."""
    det = model.det_energy
    n = model.n_nodes
    best = np.argmin(det[:, 1:], axis=1) + 1
    keep = (det[np.arange(n), best] < det[:, 0]) | model.params.keep_all_objects
    zeros = np.zeros(n, dtype=np.int64)
    count = np.where(keep, best, 0)
    return model.cols.encode(count, count, count, zeros, np.zeros(model.n_edges, dtype=np.int64))


# ---------------------------------------------------------------- solve, decode, check


def decode(model: TrackingModel, x: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(nodes, active edges) tables from a MILP solution vector."""
    v = model.cols.decode(x)
    nodes = pd.DataFrame(
        {
            "frame": model.nodes["frame"].to_numpy(),
            "label": model.nodes["label"].to_numpy(),
            **{k: v[k] for k in ("count", "appear", "disappear", "divide")},
        }
    )
    active = v["flow"] > 0
    edges = pd.DataFrame(
        {
            "frame": model.edges["frame"].to_numpy()[active],
            "label_src": model.edges["label_src"].to_numpy()[active],
            "label_dst": model.edges["label_dst"].to_numpy()[active],
            "flow": v["flow"][active],
            "frame_dst": model.edges["frame_dst"].to_numpy()[active],
        }
    )
    return nodes, edges.reset_index(drop=True)


def encode(model: TrackingModel, nodes: pd.DataFrame, edges: pd.DataFrame) -> np.ndarray:
    """The MILP vector of an assignment given as tables (a decoded solution or a ground truth): nodes with
    count, appear, disappear, divide (missing detections count 0), links with flow (non-candidate links are
    ignored)."""
    key = ["frame", "label"]
    nd = model.nodes[key].merge(nodes, on=key, how="left", validate="1:1")
    val = {c: nd[c].fillna(0).to_numpy(np.int64) for c in ("count", "appear", "disappear", "divide")}
    edges = edges.assign(frame_dst=dst_frame(edges))
    e = model.edges[EDGE_KEY].merge(edges[EDGE_KEY + ["flow"]], on=EDGE_KEY, how="left", validate="1:1")
    return model.cols.encode(**val, flow=e["flow"].fillna(0).to_numpy(np.int64))


def phi(model: TrackingModel, x: np.ndarray) -> np.ndarray:
    """The unweighted term values Φ (in the order of the weights) of a solution vector: energy = w · Φ."""
    return np.array([t.phi(x) for t in model.terms])


# Backend settings for tracking models, merged under the caller's ``options``. HiGHS without presolve solved
# every tracking model we measured 1.5-2x faster (20k detections: 72 s vs 161-192 s; 130 s vs 239 s), with
# the same optimum: its presolve probing makes the root clique-table setup very slow on these models.
TRACKING_SOLVER_OPTIONS: dict[str, dict] = {"highs": {"presolve": "off"}}


def solve_milp(milp: solvers.MILP, solver: str = "auto", **solver_kw) -> solvers.MILPResult:
    """Solve a tracking MILP (or a variant of one, e.g. loss-augmented) with the tracking backend settings;
    ``solver_kw`` go to :func:`lineageflow.solvers.solve` (gap, time_limit, threads, failed_model_path, options)."""
    options = {k: dict(v) for k, v in TRACKING_SOLVER_OPTIONS.items()}
    for backend, opts in (solver_kw.pop("options", None) or {}).items():
        options.setdefault(backend, {}).update(opts)
    return solvers.solve(milp, solver, options=options, **solver_kw)


def solve(model: TrackingModel, solver: str = "auto", **solver_kw) -> TrackingSolution:
    """Solve the model; ``solver_kw`` go to :func:`lineageflow.solvers.solve` (gap, time_limit, threads,
    failed_model_path, options)."""
    res = solve_milp(model.milp, solver, **solver_kw)
    nodes, edges = decode(model, res.x)
    return TrackingSolution(
        nodes=nodes,
        edges=edges,
        objective=res.objective,
        gap=res.gap,
        status=res.status,
        solver=res.solver,
        reason=res.reason,
        seconds=res.seconds,
        n_variables=model.milp.n_vars,
        n_constraints=model.milp.n_rows,
        build_seconds=model.build_seconds + res.build_seconds,
        bound=res.bound,
    )


def energy(model: TrackingModel, solution: TrackingSolution) -> float:
    """Energy of a decoded solution, computed from the tables (independently of the MILP)."""
    key = ["frame", "label"]
    nodes = model.nodes[key].merge(solution.nodes, on=key, how="left", validate="1:1")
    count = nodes["count"].fillna(0).to_numpy(np.int64).clip(0, model.params.max_count)
    total = model.det_energy[np.arange(model.n_nodes), count].sum()
    total += (model.app_cost * nodes["appear"].fillna(0).to_numpy(float)).sum()
    total += (model.dis_cost * nodes["disappear"].fillna(0).to_numpy(float)).sum()
    if model.div_nodes.size:
        dv = nodes["divide"].fillna(0).to_numpy(np.int64)[model.div_nodes].clip(0, 1)
        total += model.weighted("division")[np.arange(model.div_nodes.size), dv].sum()
    sol_edges = solution.edges.assign(frame_dst=dst_frame(solution.edges))
    e = model.edges[EDGE_KEY].merge(sol_edges[EDGE_KEY + ["flow"]], on=EDGE_KEY, how="left", validate="1:1")
    active = (e["flow"].fillna(0).to_numpy(float) > 0).astype(np.int64)
    for name, links in (("transition", ~model.gap_links), ("gap", model.gap_links)):
        total += model.weighted(name)[np.arange(int(links.sum())), active[links]].sum()
    return float(total)


def check_solution(model: TrackingModel, solution: TrackingSolution, rtol: float = 1e-6) -> list[str]:
    """Every way the solution breaks the model's rules (empty list = valid): counts, flows, conservation,
    divisions, and that the reported objective is the solution's energy."""
    problems: list[str] = []
    N = model.params.max_count
    key = ["frame", "label"]
    sn = solution.nodes
    if len(sn) != model.n_nodes or sn.duplicated(key).any():
        problems.append(f"solution has {len(sn)} node rows for {model.n_nodes} detections (or duplicates)")
    nodes = model.nodes[key].merge(sn, on=key, how="left", validate="1:1")
    if nodes["count"].isna().any():
        problems.append("some detections are missing from the solution")
        return problems
    count = nodes["count"].to_numpy(np.int64)
    appear = nodes["appear"].to_numpy(np.int64)
    disappear = nodes["disappear"].to_numpy(np.int64)
    divide = nodes["divide"].to_numpy(np.int64)

    def bad(mask: np.ndarray, what: str) -> None:
        for i in np.flatnonzero(mask)[:5]:
            problems.append(f"(frame {nodes.frame[i]}, label {nodes.label[i]}): {what}")

    bad((count < 0) | (count > N), f"count outside 0..{N}")
    bad((appear < 0) | (disappear < 0), "negative appearance/disappearance")
    bad((divide < 0) | (divide > 1), "division not 0/1")

    se = solution.edges.assign(frame_dst=dst_frame(solution.edges))
    e = se.merge(model.edges[EDGE_KEY + ["src", "dst"]], on=EDGE_KEY, how="left", validate="1:1")
    if e["src"].isna().any():
        problems.append(f"{int(e['src'].isna().sum())} solution links are not candidate links")
        e = e.dropna(subset=["src"])
    flow = e["flow"].to_numpy(np.int64)
    src, dst = e["src"].to_numpy(np.int64), e["dst"].to_numpy(np.int64)
    if ((flow < 1) | (flow > N)).any():
        problems.append(f"link flows outside 1..{N}")
    n = model.n_nodes
    inflow = np.bincount(dst, weights=flow, minlength=n)
    outflow = np.bincount(src, weights=flow, minlength=n)
    n_children = np.bincount(src, minlength=n)
    bad(inflow + appear != count, "in-flow + appearance != count")
    bad(outflow + disappear != count + divide, "out-flow + disappearance != count + division")
    allowed = np.zeros(n, dtype=bool)
    allowed[model.div_nodes] = True
    bad((divide == 1) & ~allowed, "divides but P(division) is not above the threshold")
    bad((divide == 1) & (count != 1), "divides but is not a single object")
    if model.params.division_into_merger:
        bad((divide == 1) & (outflow < 2), "divides without sending two cells on")
    else:
        bad((divide == 1) & (n_children < 2), "divides without two active children")
        child_flow_ok = np.ones(n, dtype=bool)
        np.logical_and.at(child_flow_ok, src, flow == 1)
        bad((divide == 1) & ~child_flow_ok, "divides but a child does not get flow 1")

    en = energy(model, solution)
    if not np.isclose(en, solution.objective, rtol=rtol, atol=1e-6):
        problems.append(f"reported objective {solution.objective} != energy of the solution {en}")
    return problems

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

Probabilities are clipped to [epsilon, 1 − epsilon] before −ln.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lineageflow import solvers
from lineageflow.errors import ConfigError, InputError


@dataclass
class TrackingParams:
    """Energy weights and model options (ilastik's defaults)."""

    weights: tuple = (10.0, 10.0, 10.0, 500.0, 500.0)  # transition, detection, division, appearance, disappearance
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
        if len(w) != 5 or not all(np.isfinite(w)) or min(w) < 0:
            raise ConfigError(
                "tracking.weights must be 5 non-negative numbers "
                f"[transition, detection, division, appearance, disappearance], got {self.weights!r}"
            )
        self.weights = w
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


@dataclass
class TrackingModel:
    """The MILP plus everything needed to decode and check a solution."""

    milp: solvers.MILP
    nodes: pd.DataFrame  # validated input nodes, index 0..n-1
    edges: pd.DataFrame  # validated input edges, index 0..E-1, with node indices src, dst
    params: TrackingParams
    det_energy: np.ndarray  # (n, N+1): w_det · −ln P(count = k)
    app_cost: np.ndarray  # (n,) per appearing object
    dis_cost: np.ndarray  # (n,) per disappearing object
    div_nodes: np.ndarray  # node indices with a division variable
    div_energy: np.ndarray  # (len(div_nodes), 2): energy of [no division, division]
    trans_energy: np.ndarray  # (E, 2): energy of [inactive, active]
    cols: dict = field(default_factory=dict)  # block name -> first column
    build_seconds: float = 0.0

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edges)


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
    return f"tracking edge (frame {t}, label {a}) -> (frame {t + 1}, label {b})"


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
    bd = nodes["border_distance"].to_numpy(float)
    bad = ~(bd >= 0)
    if bad.any():
        raise InputError(f"tracking nodes: border_distance of {_obj(nodes, bad)} must be >= 0")

    edges = edges.assign(
        frame=edges["frame"].astype(np.int64),
        label_src=edges["label_src"].astype(np.int64),
        label_dst=edges["label_dst"].astype(np.int64),
    )
    key = pd.MultiIndex.from_arrays([nodes["frame"], nodes["label"]])
    src = key.get_indexer(pd.MultiIndex.from_arrays([edges["frame"], edges["label_src"]]))
    dst = key.get_indexer(pd.MultiIndex.from_arrays([edges["frame"] + 1, edges["label_dst"]]))
    for arr, which in ((src, "source"), (dst, "target")):
        if (arr < 0).any():
            raise InputError(f"{_edge(edges, arr < 0)}: its {which} object is not in the nodes table")
    dup = edges.duplicated(["frame", "label_src", "label_dst"])
    if dup.any():
        raise InputError(f"{_edge(edges, dup)} appears more than once")
    dist = edges["distance"].to_numpy(float)
    bad = ~(np.isfinite(dist) & (dist >= 0))
    if bad.any():
        raise InputError(f"{_edge(edges, bad)}: distance {dist[bad][0]} must be finite and >= 0")
    edges = edges.assign(src=src, dst=dst)
    return nodes, edges


# ---------------------------------------------------------------- build


def _neglog(p: np.ndarray, eps: float) -> np.ndarray:
    return -np.log(np.clip(p, eps, 1.0 - eps))


def _frames(value: Iterable[int] | int | None, default: int | None) -> np.ndarray:
    if value is None:
        value = [] if default is None else [default]
    elif isinstance(value, (int, np.integer)):
        value = [value]
    return np.asarray(list(value), dtype=np.int64)


def build(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    params: TrackingParams | None = None,
    *,
    free_appearance_frames: Iterable[int] | None = None,
    free_disappearance_frames: Iterable[int] | None = None,
    names: bool = True,
) -> TrackingModel:
    """Build the conservation-tracking MILP (see the module docstring).

    ``free_*_frames`` default to the first / the last frame present in ``nodes``; pass ``()`` to make
    appearance/disappearance cost everywhere. ``names=False`` skips variable names (only used when a failed
    model is written).
    """
    t0 = time.perf_counter()
    params = params or TrackingParams()
    nodes, edges = _validate(nodes, edges, params)
    N = params.max_count
    eps = params.epsilon
    n, E = len(nodes), len(edges)
    frame = nodes["frame"].to_numpy()
    first = int(frame.min()) if n else None
    last = int(frame.max()) if n else None

    # energies
    det_energy = params.w_detection * _neglog(nodes[_count_columns(N)].to_numpy(float), eps)
    bd = nodes["border_distance"].to_numpy(float)
    fade = np.clip(bd / params.border_width, 0.0, 1.0) if params.border_width > 0 else np.ones(n)
    app_cost = params.w_appearance * fade * ~np.isin(frame, _frames(free_appearance_frames, first))
    dis_cost = params.w_disappearance * fade * ~np.isin(frame, _frames(free_disappearance_frames, last))
    pdiv = nodes["p_division"].to_numpy(float)
    div_nodes = np.flatnonzero(np.nan_to_num(pdiv, nan=0.0) > params.division_threshold)
    pd_ = pdiv[div_nodes]
    div_energy = params.w_division * np.column_stack([_neglog(1 - pd_, eps), _neglog(pd_, eps)])
    p_tr = np.exp(-edges["distance"].to_numpy(float) / params.transition_lambda)
    trans_energy = params.w_transition * np.column_stack([_neglog(1 - p_tr, eps), _neglog(p_tr, eps)])
    nd = div_nodes.size

    # column blocks
    cols = {}
    c = 0
    for name, size in (("s", n * N), ("a", n), ("d", n), ("div", nd), ("z", E), ("u", E if N >= 2 else 0)):
        cols[name] = c
        c += size
    n_cols = c
    s_col = lambda i, k: cols["s"] + i * N + (k - 1)  # noqa: E731
    node_ids = np.arange(n)
    edge_ids = np.arange(E)
    src, dst = edges["src"].to_numpy(), edges["dst"].to_numpy()
    a_col, d_col = cols["a"] + node_ids, cols["d"] + node_ids
    div_col = cols["div"] + np.arange(nd)
    z_col = cols["z"] + edge_ids
    u_col = cols["u"] + edge_ids

    cost = np.zeros(n_cols)
    lb = np.zeros(n_cols)
    ub = np.ones(n_cols)
    integ = np.ones(n_cols, dtype=bool)
    ks = np.arange(1, N + 1)
    cost[cols["s"] : cols["s"] + n * N] = (det_energy[:, 1:] - det_energy[:, :1]).ravel()
    cost[a_col], cost[d_col] = app_cost, dis_cost
    ub[a_col] = ub[d_col] = N
    integ[a_col] = integ[d_col] = False  # integral through the conservation rows
    cost[div_col] = div_energy[:, 1] - div_energy[:, 0]
    cost[z_col] = trans_energy[:, 1] - trans_energy[:, 0]
    if N >= 2:
        ub[u_col] = N - 1
    offset = float(det_energy[:, 0].sum() + div_energy[:, 0].sum() + trans_energy[:, 0].sum())

    # rows, as COO triplets per block
    rows, colsx, vals, lo, up = [], [], [], [], []
    r0 = 0

    def block(r, cidx, v, n_rows, lower, upper):
        nonlocal r0
        rows.append(np.asarray(r) + r0)
        colsx.append(np.asarray(cidx))
        vals.append(np.broadcast_to(np.asarray(v, dtype=float), np.shape(r)).ravel())
        lo.append(np.broadcast_to(float(lower), n_rows) if np.isscalar(lower) else np.asarray(lower, float))
        up.append(np.broadcast_to(float(upper), n_rows) if np.isscalar(upper) else np.asarray(upper, float))
        r0 += n_rows

    s_all = s_col(np.repeat(node_ids, N), np.tile(ks, n))  # node-major, like the s block
    s_node = np.repeat(node_ids, N)
    s_k = np.tile(ks, n).astype(float)
    row_names = []
    if N >= 2:  # at most one state per detection (exactly one active state when every object is kept)
        block(s_node, s_all, 1.0, n, 1.0 if params.keep_all_objects else -np.inf, 1.0)
        row_names.append(("onehot", n))
    elif params.keep_all_objects:
        lb[cols["s"] : cols["s"] + n] = 1.0
    flow_cols = np.concatenate([z_col, u_col]) if N >= 2 else z_col
    # in-flow: Σ_in (z + u) + a − Σ k s = 0
    in_nodes = np.concatenate([dst, dst]) if N >= 2 else dst
    block(
        np.concatenate([in_nodes, node_ids, s_node]),
        np.concatenate([flow_cols, a_col, s_all]),
        np.concatenate([np.ones(in_nodes.size), np.ones(n), -s_k]),
        n, 0.0, 0.0,
    )  # fmt: skip
    row_names.append(("in", n))
    # out-flow: Σ_out (z + u) + d − Σ k s − δ = 0
    out_nodes = np.concatenate([src, src]) if N >= 2 else src
    block(
        np.concatenate([out_nodes, node_ids, s_node, div_nodes]),
        np.concatenate([flow_cols, d_col, s_all, div_col]),
        np.concatenate([np.ones(out_nodes.size), np.ones(n), -s_k, -np.ones(nd)]),
        n, 0.0, 0.0,
    )  # fmt: skip
    row_names.append(("out", n))
    if nd:
        j = np.arange(nd)
        # δ <= s^1: only single objects divide
        block(np.concatenate([j, j]), np.concatenate([div_col, s_col(div_nodes, 1)]), np.r_[np.ones(nd), -np.ones(nd)], nd, -np.inf, 0.0)
        row_names.append(("divsingle", nd))
        # Σ_out z − 2 δ >= 0: two distinct active children; or, into a merger, Σ_out (z + u) − 2 δ >= 0
        pos = np.full(n, -1)
        pos[div_nodes] = j
        out_e = np.flatnonzero(pos[src] >= 0)
        merge_ok = params.division_into_merger and N >= 2
        r_e = np.concatenate([pos[src[out_e]]] * (2 if merge_ok else 1))
        c_e = np.concatenate([z_col[out_e], u_col[out_e]]) if merge_ok else z_col[out_e]
        block(np.concatenate([r_e, j]), np.concatenate([c_e, div_col]), np.r_[np.ones(r_e.size), -2 * np.ones(nd)], nd, 0.0, np.inf)
        row_names.append(("divchildren", nd))
    if N >= 2:  # u <= (N − 1) z: extra flow only on active links
        block(np.concatenate([edge_ids, edge_ids]), np.concatenate([u_col, z_col]), np.r_[np.ones(E), -(N - 1) * np.ones(E)], E, -np.inf, 0.0)
        row_names.append(("cap", E))
        # Σ_out u <= x − 1 and Σ_in u <= x − 1 for active nodes, i.e. <= Σ_k (k − 1) s^k. Valid for every integer
        # solution; without them the LP relaxation pays half a transition by splitting flow 1 into z = u = 1/2.
        km1 = -(s_k - 1)
        for ends, kind in ((src, "mergeout"), (dst, "mergein")):
            r_, c_, v_ = [ends, s_node], [u_col, s_all], [np.ones(E), km1]
            if kind == "mergeout" and params.division_into_merger and nd:
                # a division into a merger sends extra flow 1 out of a single object: Σ_out u <= x − 1 + δ
                r_.append(div_nodes), c_.append(div_col), v_.append(-np.ones(nd))
            block(np.concatenate(r_), np.concatenate(c_), np.concatenate(v_), n, -np.inf, 0.0)
            row_names.append((kind, n))
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(colsx))), shape=(r0, n_cols)
    )  # duplicates are summed; there are none by construction
    A.eliminate_zeros()  # the (k − 1) s^k terms are 0 for k = 1

    var_names = row_name_list = None
    if names:
        tl = [f"t{f}_l{lab}" for f, lab in zip(nodes["frame"].tolist(), nodes["label"].tolist())]
        el = [f"t{f}_l{a}_l{b}" for f, a, b in zip(edges["frame"].tolist(), edges["label_src"].tolist(), edges["label_dst"].tolist())]
        var_names = (
            [f"s{k}_{t}" for t in tl for k in range(1, N + 1)]
            + [f"app_{t}" for t in tl]
            + [f"dis_{t}" for t in tl]
            + [f"div_{tl[i]}" for i in div_nodes.tolist()]
            + [f"z_{e}" for e in el]
            + ([f"u_{e}" for e in el] if N >= 2 else [])
        )
        row_name_list = [f"{kind}{i}" for kind, cnt in row_names for i in range(cnt)]

    # always-feasible start (a time limit then still leaves a solution): each object's most probable count
    # (at least 1 when every object must be kept), appearing and disappearing where it is; no links, no divisions
    start = np.zeros(n_cols)
    best = np.argmin(det_energy[:, 1:], axis=1) + 1 if N else np.zeros(n, dtype=np.int64)
    keep = (det_energy[np.arange(n), best] < det_energy[:, 0]) | params.keep_all_objects
    start[s_col(node_ids[keep], best[keep])] = 1.0
    start[a_col[keep]] = start[d_col[keep]] = best[keep]
    milp = solvers.MILP(
        c=cost, A=A, row_lower=np.concatenate(lo) if lo else np.zeros(0), row_upper=np.concatenate(up) if up else np.zeros(0),
        lb=lb, ub=ub, integrality=integ, var_names=var_names, row_names=row_name_list, objective_offset=offset,
        start=start,
    )  # fmt: skip
    return TrackingModel(
        milp=milp,
        nodes=nodes,
        edges=edges,
        params=params,
        det_energy=det_energy,
        app_cost=app_cost,
        dis_cost=dis_cost,
        div_nodes=div_nodes,
        div_energy=div_energy,
        trans_energy=trans_energy,
        cols=cols,
        build_seconds=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------- solve, decode, check


def decode(model: TrackingModel, x: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(nodes, active edges) tables from a MILP solution vector."""
    N, n, E = model.params.max_count, model.n_nodes, model.n_edges
    c = model.cols
    x = np.rint(np.asarray(x, dtype=float)).astype(np.int64)
    s = x[c["s"] : c["s"] + n * N].reshape(n, N)
    count = s @ np.arange(1, N + 1)
    divide = np.zeros(n, dtype=np.int64)
    divide[model.div_nodes] = x[c["div"] : c["div"] + model.div_nodes.size]
    nodes = pd.DataFrame(
        {
            "frame": model.nodes["frame"].to_numpy(),
            "label": model.nodes["label"].to_numpy(),
            "count": count,
            "appear": x[c["a"] : c["a"] + n],
            "disappear": x[c["d"] : c["d"] + n],
            "divide": divide,
        }
    )
    flow = x[c["z"] : c["z"] + E] + (x[c["u"] : c["u"] + E] if N >= 2 else 0)
    active = flow > 0
    edges = pd.DataFrame(
        {
            "frame": model.edges["frame"].to_numpy()[active],
            "label_src": model.edges["label_src"].to_numpy()[active],
            "label_dst": model.edges["label_dst"].to_numpy()[active],
            "flow": flow[active],
        }
    )
    return nodes, edges.reset_index(drop=True)


# Backend settings for tracking models, merged under the caller's ``options``. HiGHS without presolve solved
# every tracking model we measured 1.5-2x faster (20k detections: 72 s vs 161-192 s; 130 s vs 239 s), with
# the same optimum: its presolve probing makes the root clique-table setup very slow on these models.
TRACKING_SOLVER_OPTIONS: dict[str, dict] = {"highs": {"presolve": "off"}}


def solve(model: TrackingModel, solver: str = "auto", **solver_kw) -> TrackingSolution:
    """Solve the model; ``solver_kw`` go to :func:`lineageflow.solvers.solve` (gap, time_limit, threads,
    failed_model_path, options)."""
    options = {k: dict(v) for k, v in TRACKING_SOLVER_OPTIONS.items()}
    for backend, opts in (solver_kw.pop("options", None) or {}).items():
        options.setdefault(backend, {}).update(opts)
    res = solvers.solve(model.milp, solver, options=options, **solver_kw)
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
        total += model.div_energy[np.arange(model.div_nodes.size), dv].sum()
    ekey = ["frame", "label_src", "label_dst"]
    e = model.edges[ekey].merge(solution.edges[ekey + ["flow"]], on=ekey, how="left", validate="1:1")
    active = (e["flow"].fillna(0).to_numpy(float) > 0).astype(np.int64)
    total += model.trans_energy[np.arange(model.n_edges), active].sum()
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

    ekey = ["frame", "label_src", "label_dst"]
    se = solution.edges
    e = se.merge(model.edges[ekey + ["src", "dst"]], on=ekey, how="left", validate="1:1")
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

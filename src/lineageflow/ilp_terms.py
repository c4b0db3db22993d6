"""The pieces of the conservation-tracking MILP: the column layout, the energy terms and the constraint families.

:func:`lineageflow.ilp.build` only assembles these. Every energy term is *unweighted* and linear in the MILP
columns: Φ_k(x) = coef_k · x[columns_k] + offset_k, so the energy of any solution is Σ_k w_k · Φ_k(x) — what a
structured SVM needs to learn the weights w with the same MILP as inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# the order of ``tracking.weights``
TERM_NAMES = ("transition", "detection", "division", "appearance", "disappearance", "gap")


@dataclass(frozen=True)
class Columns:
    """Column layout of the tracking MILP, in blocks:

    ``s`` state binaries s_i^k (node-major, k = 1..N), ``a`` appearance, ``d`` disappearance (per node),
    ``div`` division (one per division candidate ``div_nodes``), ``z`` link active, ``u`` extra flow (per edge,
    only when N >= 2).
    """

    n_nodes: int
    n_edges: int
    max_count: int
    div_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    starts: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n, E, N = self.n_nodes, self.n_edges, self.max_count
        starts, c = {}, 0
        for name, size in (("s", n * N), ("a", n), ("d", n), ("div", self.div_nodes.size), ("z", E),
                           ("u", E if N >= 2 else 0)):
            starts[name] = c
            c += size
        starts["end"] = c
        object.__setattr__(self, "starts", starts)

    @property
    def n_cols(self) -> int:
        return self.starts["end"]

    @property
    def n_div(self) -> int:
        return int(self.div_nodes.size)

    def block(self, name: str) -> np.ndarray:
        """All columns of one block, in order."""
        order = list(self.starts)
        return np.arange(self.starts[name], self.starts[order[order.index(name) + 1]])

    def state(self, node, k) -> np.ndarray:
        """Column of s_node^k (k >= 1); vectorised over both."""
        return self.starts["s"] + np.asarray(node) * self.max_count + (np.asarray(k) - 1)

    @property
    def state_node(self) -> np.ndarray:
        """The node of each state column (node-major)."""
        return np.repeat(np.arange(self.n_nodes), self.max_count)

    @property
    def state_k(self) -> np.ndarray:
        """The count k of each state column."""
        return np.tile(np.arange(1, self.max_count + 1), self.n_nodes)

    def decode(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per node count, appear, disappear, divide and per edge flow from a solution vector."""
        x = np.rint(np.asarray(x, dtype=float)).astype(np.int64)
        n, N = self.n_nodes, self.max_count
        divide = np.zeros(n, dtype=np.int64)
        divide[self.div_nodes] = x[self.block("div")]
        flow = x[self.block("z")] + (x[self.block("u")] if N >= 2 else 0)
        return {
            "count": x[self.block("s")].reshape(n, N) @ np.arange(1, N + 1),
            "appear": x[self.block("a")],
            "disappear": x[self.block("d")],
            "divide": divide,
            "flow": flow,
        }

    def encode(self, count, appear, disappear, divide, flow) -> np.ndarray:
        """The solution vector of an assignment (inverse of :meth:`decode`); counts are clipped to 0..N and
        divisions of nodes without a division column are dropped."""
        x = np.zeros(self.n_cols)
        count = np.clip(np.asarray(count, dtype=np.int64), 0, self.max_count)
        on = np.flatnonzero(count > 0)
        x[self.state(on, count[on])] = 1.0
        x[self.block("a")] = appear
        x[self.block("d")] = disappear
        x[self.block("div")] = np.asarray(divide)[self.div_nodes]
        flow = np.asarray(flow, dtype=np.int64)
        x[self.block("z")] = flow > 0
        if self.max_count >= 2:
            x[self.block("u")] = np.clip(flow - 1, 0, None)
        return x

    def names(self, nodes: pd.DataFrame, edges: pd.DataFrame) -> list[str]:
        """Readable column names (for written models)."""
        tl = [f"t{f}_l{lab}" for f, lab in zip(nodes["frame"].tolist(), nodes["label"].tolist())]
        fd = edges["frame_dst"].tolist() if "frame_dst" in edges.columns else [f + 1 for f in edges["frame"].tolist()]
        el = [f"t{f}_l{a}_l{b}" + (f"_t{g}" if g != f + 1 else "") for f, a, b, g in
              zip(edges["frame"].tolist(), edges["label_src"].tolist(), edges["label_dst"].tolist(), fd)]
        return ([f"s{k}_{t}" for t in tl for k in range(1, self.max_count + 1)]
                + [f"app_{t}" for t in tl] + [f"dis_{t}" for t in tl]
                + [f"div_{tl[i]}" for i in self.div_nodes.tolist()]
                + [f"z_{e}" for e in el] + ([f"u_{e}" for e in el] if self.max_count >= 2 else []))


# ---------------------------------------------------------------- energy terms


@dataclass(frozen=True)
class Term:
    """One unweighted energy term: Φ(x) = coef · x[columns] + offset.

    ``choices`` is the same term per entity and choice (rows: nodes, division candidates or edges; columns: the
    choices, e.g. count 0..N or [inactive, active]); :func:`lineageflow.ilp.energy` reads a solution with it,
    independently of the MILP columns.
    """

    name: str
    columns: np.ndarray
    coef: np.ndarray
    offset: float
    choices: np.ndarray

    def phi(self, x: np.ndarray) -> float:
        return float(self.coef @ np.asarray(x, dtype=float)[self.columns] + self.offset)


def neglog(p: np.ndarray, eps: float) -> np.ndarray:
    return -np.log(np.clip(p, eps, 1.0 - eps))


def _choice_term(name: str, choices: np.ndarray, columns: np.ndarray) -> Term:
    """A term whose entities choose between 0 (the all-zero solution) and the columns' values 1..: the offset
    is the cost of choice 0, each column costs its choice minus choice 0."""
    return Term(name, columns, (choices[:, 1:] - choices[:, :1]).ravel(), float(choices[:, 0].sum()), choices)


def detection(p_count: np.ndarray, cols: Columns, eps: float) -> Term:
    """−ln P(count = x_i) per detection; ``p_count`` is (n, N+1)."""
    return _choice_term("detection", neglog(p_count, eps), cols.block("s"))


def transition(distance: np.ndarray, lam: float, cols: Columns, eps: float, links: np.ndarray) -> Term:
    """−ln p_e if the link is active, −ln(1 − p_e) if not, p_e = exp(−distance / λ); frame-to-frame links
    (edge indices ``links``) only."""
    p = np.exp(-distance[links] / lam)
    return _choice_term("transition", np.column_stack([neglog(1 - p, eps), neglog(p, eps)]), cols.block("z")[links])


def gap(distance: np.ndarray, span: np.ndarray, lam: float, cols: Columns, links: np.ndarray) -> Term:
    """Gap-closing links (edge indices ``links``, over ``span`` >= 2 frames): an active one costs the frames it
    skips plus its length in units of λ, (span − 1) + distance / λ; an inactive one costs nothing (unlike a
    transition, whose inactive cost would reward bridging a cell that is present)."""
    per = (span[links] - 1) + distance[links] / lam
    return Term("gap", cols.block("z")[links], per, 0.0, np.column_stack([np.zeros(links.size), per]))


def division(p_division: np.ndarray, cols: Columns, eps: float) -> Term:
    """−ln P(div) if the candidate divides, −ln(1 − P(div)) if not (division candidates only)."""
    p = p_division[cols.div_nodes]
    return _choice_term("division", np.column_stack([neglog(1 - p, eps), neglog(p, eps)]), cols.block("div"))


def appearance(fade: np.ndarray, free: np.ndarray, cols: Columns) -> Term:
    """One unit per appearing cell, fading at the border, 0 in the free frames."""
    per = fade * ~free
    return Term("appearance", cols.block("a"), per, 0.0, per[:, None])


def disappearance(fade: np.ndarray, free: np.ndarray, cols: Columns) -> Term:
    """One unit per disappearing cell, fading at the border, 0 in the free frames."""
    per = fade * ~free
    return Term("disappearance", cols.block("d"), per, 0.0, per[:, None])


# ---------------------------------------------------------------- constraint families


@dataclass(frozen=True)
class Rows:
    """One family of constraint rows lower <= A x <= upper, as COO triplets with local row numbers."""

    name: str
    n_rows: int
    row: np.ndarray
    col: np.ndarray
    val: np.ndarray
    lower: float
    upper: float


def _rows(name: str, n_rows: int, row: list, col: list, val: list, lower: float, upper: float) -> Rows:
    """Concatenate per-part (row, column, value) arrays into one family."""
    return Rows(name, n_rows, np.concatenate(row).astype(np.int64), np.concatenate(col).astype(np.int64),
                np.concatenate([np.asarray(v, float) for v in val]), float(lower), float(upper))


def one_state(cols: Columns, keep_all: bool) -> Rows:
    """Σ_k s_i^k <= 1 (== 1 when every object is kept): one count per detection (N >= 2)."""
    return _rows("onehot", cols.n_nodes, [cols.state_node], [cols.block("s")], [np.ones(cols.n_nodes * cols.max_count)],
                 1.0 if keep_all else -np.inf, 1.0)


def _flow_cols(cols: Columns, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(node, column) of every flow column (z and u) entering (``ends`` = dst) or leaving (src) each node."""
    if cols.max_count >= 2:
        return np.concatenate([ends, ends]), np.concatenate([cols.block("z"), cols.block("u")])
    return ends, cols.block("z")


def flow_in(cols: Columns, dst: np.ndarray) -> Rows:
    """Σ_in (z + u) + a_i − Σ_k k s_i^k = 0."""
    fn, fc = _flow_cols(cols, dst)
    n = cols.n_nodes
    return _rows("in", n, [fn, np.arange(n), cols.state_node], [fc, cols.block("a"), cols.block("s")],
                 [np.ones(fn.size), np.ones(n), -cols.state_k], 0.0, 0.0)


def flow_out(cols: Columns, src: np.ndarray) -> Rows:
    """Σ_out (z + u) + d_i − Σ_k k s_i^k − δ_i = 0."""
    fn, fc = _flow_cols(cols, src)
    n = cols.n_nodes
    return _rows("out", n, [fn, np.arange(n), cols.state_node, cols.div_nodes],
                 [fc, cols.block("d"), cols.block("s"), cols.block("div")],
                 [np.ones(fn.size), np.ones(n), -cols.state_k, -np.ones(cols.n_div)], 0.0, 0.0)


def division_single(cols: Columns) -> Rows:
    """δ_i <= s_i^1: only single objects divide."""
    j = np.arange(cols.n_div)
    return _rows("divsingle", cols.n_div, [j, j], [cols.block("div"), cols.state(cols.div_nodes, 1)],
                 [np.ones(cols.n_div), -np.ones(cols.n_div)], -np.inf, 0.0)


def division_children(cols: Columns, src: np.ndarray, into_merger: bool) -> Rows:
    """Σ_out z − 2 δ_i >= 0: two distinct active children; or, when a division may go into a merger,
    Σ_out (z + u) − 2 δ_i >= 0."""
    nd = cols.n_div
    pos = np.full(cols.n_nodes, -1)
    pos[cols.div_nodes] = np.arange(nd)
    out_e = np.flatnonzero(pos[src] >= 0)
    merge_ok = into_merger and cols.max_count >= 2
    r_e = np.concatenate([pos[src[out_e]]] * (2 if merge_ok else 1))
    c_e = np.concatenate([cols.block("z")[out_e], cols.block("u")[out_e]]) if merge_ok else cols.block("z")[out_e]
    return _rows("divchildren", nd, [r_e, np.arange(nd)], [c_e, cols.block("div")],
                 [np.ones(r_e.size), -2 * np.ones(nd)], 0.0, np.inf)


def extra_flow_cap(cols: Columns) -> Rows:
    """u_e <= (N − 1) z_e: extra flow only on active links (N >= 2)."""
    e = np.arange(cols.n_edges)
    return _rows("cap", cols.n_edges, [e, e], [cols.block("u"), cols.block("z")],
                 [np.ones(e.size), -(cols.max_count - 1) * np.ones(e.size)], -np.inf, 0.0)


def merger_flow(cols: Columns, ends: np.ndarray, kind: str, division_into_merger: bool) -> Rows:
    """Σ_out u <= x − 1 (kind "mergeout", ends = src) or Σ_in u <= x − 1 ("mergein", ends = dst) for active
    nodes, i.e. <= Σ_k (k − 1) s^k (N >= 2). Valid for every integer solution; without them the LP relaxation
    pays half a transition by splitting flow 1 into z = u = 1/2. A division into a merger sends extra flow 1
    out of a single object: Σ_out u <= x − 1 + δ."""
    r_, c_, v_ = [ends, cols.state_node], [cols.block("u"), cols.block("s")], [np.ones(cols.n_edges), -(cols.state_k - 1.0)]
    if kind == "mergeout" and division_into_merger and cols.n_div:
        r_.append(cols.div_nodes), c_.append(cols.block("div")), v_.append(-np.ones(cols.n_div))
    return _rows(kind, cols.n_nodes, r_, c_, v_, -np.inf, 0.0)

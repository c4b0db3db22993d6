"""Structured learning of the tracking weights (ilastik's "structured learning tracking", with a free solver).

The energy is linear in the five weights, E_w(y) = w · Φ(y) (:func:`lineageflow.ilp.phi`), so the weights are
learnt with a structured SVM (margin rescaling) whose inference is the tracking MILP itself:

    min_{w >= 0, ξ >= 0}  ½ ‖w‖² + C ξ   s.t.   w · (Φ(y) − Φ(y*)) >= Δ(y*, y) − ξ   for every assignment y,

averaged over all entities of all examples (1-slack formulation). Δ is a Hamming loss on node states, active
links and divisions. It is solved by cutting planes: loss-augmented inference argmin_y w·Φ(y) − Δ(y*, y) (the
same MILP with the loss folded into its costs, solved through :mod:`lineageflow.solvers` with the tracking
solver choice) adds the most violated constraint; a 6-variable QP over the constraints found so far gives the
next w. **Stopping rule:** the most violated constraint at the current w exceeds the working set's slack ξ by
less than ``tolerance`` (per entity), or ``max_iterations`` is reached; the weights of the lowest primal
objective ½‖w‖² + C·hinge seen are returned.

The target y* is the ground truth made representable: annotated cells are matched to our objects
(:mod:`lineageflow.learn_data`), then :func:`representable` finds the model assignment closest in Hamming loss
to it (GT links that are not candidate links, GT mergers above max_count and divisions of objects
without a division variable cannot be represented; GT cells no object covers are simply absent). Both steps
count what they had to change.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.sparse as sp

from . import ilp
from .atomic import atomic_path
from .errors import InputError
from .candidates import EDGE_KEY, dst_frame
from .ilp_terms import TERM_NAMES

log = logging.getLogger("lineageflow")

KEY = ["frame", "label"]


@dataclass(frozen=True)
class LearnSettings:
    """How the SSVM runs (``tracking.learn``)."""

    C: float = 1e6  # weight of the structured hinge (per entity) against ½‖w‖²; large: fit the ground truth
    max_iterations: int = 50
    tolerance: float = 1e-4  # per-entity loss: stop when the new constraint is violated by less than ξ + this
    loss: tuple = (1.0, 1.0, 1.0)  # Hamming weight of a wrong node state, link, division


# ---------------------------------------------------------------- the loss and the target


def hamming(cols, target: np.ndarray, loss=(1.0, 1.0, 1.0)) -> tuple[float, np.ndarray]:
    """Δ(target, x) = const + coef · x: weighted Hamming loss on node states (the one-hot state including
    count 0), active links and divisions, linear in the MILP columns."""
    w_node, w_link, w_div = loss
    coef = np.zeros(cols.n_cols)
    const = 0.0
    s = cols.block("s")
    on = target[s] > 0.5  # the target's state column of every node with count >= 1
    coef[s] = np.where(on, -w_node, 0.0)
    const += w_node * on.sum()
    zero_nodes = np.flatnonzero(target[s].reshape(cols.n_nodes, cols.max_count).sum(1) < 0.5)
    coef[cols.state(np.repeat(zero_nodes, cols.max_count), np.tile(np.arange(1, cols.max_count + 1), zero_nodes.size))] = w_node
    for block, w in (("z", w_link), ("div", w_div)):
        c = cols.block(block)
        t = target[c] > 0.5
        coef[c] = np.where(t, -w, w)
        const += w * t.sum()
    return const, coef


def representable(model: ilp.TrackingModel, gt_nodes: pd.DataFrame, gt_edges: pd.DataFrame, *,
                  solver: str = "auto", loss=(1.0, 1.0, 1.0)) -> tuple[np.ndarray, dict]:
    """The model assignment closest (in Hamming loss) to the ground truth, and what had to change."""
    nodes = gt_nodes.assign(appear=0, disappear=0)
    want = ilp.encode(model, nodes, gt_edges)
    const, coef = hamming(model.cols, want, loss)
    res = ilp.solve_milp(replace(model.milp, c=coef, objective_offset=const, start=None), solver, gap=0.0)
    x = res.x
    gt_edges = gt_edges.assign(frame_dst=dst_frame(gt_edges))
    cand = model.edges[EDGE_KEY].merge(gt_edges[EDGE_KEY], on=EDGE_KEY, how="inner")
    got = model.cols.decode(x)
    n_div_allowed = int(ilp.encode(model, nodes, gt_edges)[model.cols.block("div")].sum())
    info = {
        "gt_links_not_candidates": int(len(gt_edges) - len(cand)),
        "gt_mergers_above_max_count": int((gt_nodes["count"] > model.params.max_count).sum()),
        "gt_divisions_without_variable": int(gt_nodes["divide"].sum() - n_div_allowed),
        "target_differs_from_gt": float(res.objective),  # Hamming loss between the GT and the target
        "target_divisions": int(got["divide"].sum()),
        "target_links": int((got["flow"] > 0).sum()),
    }
    return x, info


# ---------------------------------------------------------------- examples and the SSVM


@dataclass
class Example:
    """One training example: a model (a time window of the training data) and its target assignment."""

    model: ilp.TrackingModel
    target: np.ndarray
    info: dict = field(default_factory=dict)
    features: sp.csr_matrix = field(init=False)  # (5, n_cols): Φ(x) = features @ x + offsets
    offsets: np.ndarray = field(init=False)
    loss_const: float = field(init=False)
    loss_coef: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        terms = self.model.terms
        rows = np.concatenate([np.full(t.columns.size, k) for k, t in enumerate(terms)])
        self.features = sp.csr_matrix(
            (np.concatenate([t.coef for t in terms]), (rows, np.concatenate([t.columns for t in terms]))),
            shape=(len(terms), self.model.cols.n_cols))
        self.offsets = np.array([t.offset for t in terms])
        self.set_loss((1.0, 1.0, 1.0))

    def set_loss(self, loss) -> None:
        """Hamming weights of a wrong node state, link, division."""
        self.loss_const, self.loss_coef = hamming(self.model.cols, self.target, loss)

    @property
    def n_entities(self) -> int:
        return self.model.n_nodes + self.model.n_edges + self.model.div_nodes.size

    def phi(self, x: np.ndarray) -> np.ndarray:
        return self.features @ x + self.offsets

    def loss(self, x: np.ndarray) -> float:
        return float(self.loss_const + self.loss_coef @ x)


def loss_augmented(ex: Example, w: np.ndarray, solver: str, gap: float, threads: int = 1) -> tuple[np.ndarray, str]:
    """argmin_x w · Φ(x) − Δ(target, x) over the example's model."""
    c = np.asarray(w) @ ex.features - ex.loss_coef
    milp = replace(ex.model.milp, c=np.asarray(c).ravel(), objective_offset=float(w @ ex.offsets - ex.loss_const))
    res = ilp.solve_milp(milp, solver, gap=gap, threads=threads)
    return res.x, res.solver


def _qp(constraints: list[tuple[np.ndarray, float]], C: float, w0: np.ndarray) -> tuple[np.ndarray, float]:
    """min ½‖w‖² + C ξ s.t. a_j · w >= b_j − ξ, w >= 0, ξ >= 0 (the working set)."""
    A = np.array([a for a, _ in constraints])
    b = np.array([b for _, b in constraints])
    k = A.shape[1]

    def xi(w):
        return max(0.0, float((b - A @ w).max()))

    x0 = np.r_[w0, xi(w0)]
    # divided by C: the same minimiser, better scaled for large C
    res = scipy.optimize.minimize(
        lambda v: 0.5 / C * v[:k] @ v[:k] + v[k], x0, jac=lambda v: np.r_[v[:k] / C, 1.0], method="SLSQP",
        bounds=[(0, None)] * (k + 1),
        constraints=[{"type": "ineq", "fun": lambda v: A @ v[:k] + v[k] - b, "jac": lambda v: np.c_[A, np.ones(len(b))]}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    w = np.clip(res.x[:k], 0.0, None)
    return w, xi(w)


def learn_weights(examples: list[Example], settings: LearnSettings = LearnSettings(), *,
                  initial=ilp.TrackingParams().weights, solver: str = "auto", gap: float = 0.0,
                  threads: int = 1, tied: dict[int, tuple[int, float]] | None = None) -> dict:
    """Cutting-plane SSVM (see the module docstring). Returns the weights and the training record.

    ``tied`` {k: (j, r)} keeps w_k = r · w_j instead of learning w_k (a weight the data cannot tell, e.g. the
    division weight without any division in the training data)."""
    if not examples:
        raise InputError("tracking weights: no training examples (no frames with ground truth)")
    initial = ilp.TrackingParams(weights=initial).weights  # five given: the default gap weight
    for ex in examples:
        ex.set_loss(settings.loss)
    M = float(sum(ex.n_entities for ex in examples))
    phi_star = sum(ex.phi(ex.target) for ex in examples) / M
    tied = dict(tied or {})
    free = [k for k in range(len(initial)) if k not in tied]
    T = np.zeros((len(initial), len(free)))  # w = T v over the free weights v
    for col, k in enumerate(free):
        T[k, col] = 1.0
    for k, (j, r) in tied.items():
        T[k, free.index(j)] = r
    w = T @ np.asarray(initial, float)[free]
    working: list[tuple[np.ndarray, float]] = []
    history, best = [], None
    xi = 0.0
    solver_used = set()
    t0 = time.perf_counter()
    for it in range(settings.max_iterations):
        phi_hat = np.zeros(len(w))
        delta = 0.0
        for ex in examples:
            x, used = loss_augmented(ex, w, solver, gap, threads)
            solver_used.add(used)
            phi_hat += ex.phi(x)
            delta += ex.loss(x)
        a = phi_hat / M - phi_star  # w · a >= Δ − ξ must hold
        delta /= M
        hinge = max(0.0, delta - float(w @ a))
        primal = 0.5 * float(w @ w) + settings.C * hinge
        step = {"iteration": it, "weights": w.tolist(), "hinge": hinge, "loss": delta, "primal": primal,
                "slack": xi, "seconds": time.perf_counter() - t0}
        history.append(step)
        log.info("tracking weights, iteration %d: w = %s, loss %.5f, hinge %.5f, primal %.5f", it,
                 np.round(w, 4).tolist(), delta, hinge, primal)
        if best is None or primal < best["primal"] - 1e-12:
            best = step
        if it > 0 and hinge <= xi + settings.tolerance:
            stopped = "converged"
            break
        working.append((T.T @ a, delta))
        v, xi = _qp(working, settings.C, w[free])
        w = T @ v
    else:
        stopped = "max_iterations"
    return {
        "weights": best["weights"],
        "iteration": best["iteration"],
        "stopped": stopped,
        "history": history,
        "solver": ",".join(sorted(solver_used)),
        "n_examples": len(examples),
        "n_entities": int(M),
        "seconds": time.perf_counter() - t0,
        "settings": {"C": settings.C, "max_iterations": settings.max_iterations, "tolerance": settings.tolerance,
                     "loss": list(settings.loss)},
        "tied": {str(k): [j, r] for k, (j, r) in tied.items()},
    }


def _optimum(ex: Example, weights, solver: str, gap: float = 0.0) -> np.ndarray:
    """The example's MILP optimum under ``weights`` (its solution vector)."""
    c = np.asarray(np.asarray(ilp.TrackingParams(weights=weights).weights) @ ex.features).ravel()
    return ilp.solve_milp(replace(ex.model.milp, c=c), solver, gap=gap).x


def training_errors(examples: list[Example], weights, solver: str = "auto", gap: float = 0.0) -> dict:
    """What the MILP's optimum under ``weights`` gets wrong on the training examples: node states, links and
    divisions that differ from the target (the Hamming loss by kind, and in total per object and link)."""
    wrong = {"states": 0, "links": 0, "divisions": 0}
    total = 0.0
    for ex in examples:
        x = _optimum(ex, weights, solver, gap)
        got, want = ex.model.cols.decode(x), ex.model.cols.decode(ex.target)
        wrong["states"] += int((got["count"] != want["count"]).sum())
        wrong["links"] += int(((got["flow"] > 0) != (want["flow"] > 0)).sum())
        wrong["divisions"] += int((got["divide"] != want["divide"]).sum())
        total += ex.loss(x)
    return wrong | {"loss": total / sum(ex.n_entities for ex in examples)}


def reproduces(ex: Example, weights, solver: str = "auto") -> float:
    """Hamming loss between the target and the MILP's optimum under ``weights`` (0 = reproduced)."""
    return ex.loss(_optimum(ex, weights, solver))


# ---------------------------------------------------------------- weights.json

DEFAULT_WEIGHTS = ilp.TrackingParams().weights


def write_weights(path, result: dict, data: dict) -> None:
    """OUT/track/weights.json: the learnt weights, the training record and what they were learnt from."""
    doc = {"weights": [float(v) for v in result["weights"]], "terms": list(TERM_NAMES),
           "default_weights": list(DEFAULT_WEIGHTS), **{k: v for k, v in result.items() if k != "weights"},
           "data": data}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=float))


def read_weights(path) -> list[float]:
    """The weights of a weights.json, checked."""
    try:
        w = json.loads(Path(path).read_text())["weights"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a tracking weights file ({exc})") from exc
    if not (isinstance(w, list) and len(w) in (5, 6) and all(isinstance(v, (int, float)) and v >= 0 for v in w)):
        raise InputError(f"{path}: 'weights' must be 6 non-negative numbers {list(TERM_NAMES)} (or the first 5), "
                         f"got {w!r}")
    return [float(v) for v in w] + ([ilp.GAP_WEIGHT] if len(w) == 5 else [])


def tracking_config(tracking: dict, weights_files) -> dict:
    """The tracking config with tracking.weights = learned replaced by the learnt weights."""
    if tracking["weights"] != "learned":
        return tracking
    if not weights_files:
        raise InputError("tracking.weights = learned but no weights.json was given to this job")
    return {**tracking, "weights": read_weights(list(weights_files)[0])}

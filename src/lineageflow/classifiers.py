"""Object classifiers (ilastik's object-count and division classifiers): Random Forests on the object table.

* count classifier: P(count = 0, 1, ..., N) per object (0 = false detection, >= 2 = merger); the last column
  ``p_count_N`` means "N or more". Features: ``COUNT_FEATURES`` columns of the object table plus
  ``COUNT_DERIVED`` (size and intensity sum relative to the median object of the same frame).
* division classifier: P(division) per object of frame t, from ``division_features``: the object ("parent")
  against its two nearest objects ("children") in frame t+1 within ``max_distance`` (physical units).

Fall-backs without a trained classifier (the caller logs them; ``classify_table`` does):
  count: P(1) = fallback_confidence, P(0) = 1 - fallback_confidence, P(>= 2) = 0 (then floored, below).
  division: P(division) = 0 for every object (no divisions).
Probabilities: every count probability is floored at ``EPSILON`` and rows renormalised (so a class absent from
training, or one the forest never votes for, costs a finite -ln P in the tracking ILP). P(division) of a trained
classifier is clipped to [EPSILON, 1 - EPSILON], except that it is exactly 0 for objects with fewer than two
candidate children (e.g. every object of the movie's last frame): a division needs two children.

Training is deterministic: rows are sorted by (frame, label) and the forest is seeded. Classifier files are
pickles: load only files you made.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sklearn.ensemble import RandomForestClassifier

from .atomic import atomic_path
from .candidates import advected_positions
from .errors import ConfigError, InputError

__all__ = [
    "EPSILON", "COUNT_FEATURES", "COUNT_DERIVED", "COUNT_FEATURE_NAMES", "DIVISION_FEATURES",
    "count_features", "division_features", "ObjectClassifier",
    "train_count_classifier", "train_division_classifier", "predict_counts", "predict_division",
    "classify_table", "count_columns",
]  # fmt: skip

log = logging.getLogger("lineageflow")

EPSILON = 1e-4
_FORMAT = "lineageflow-object-classifier"
_VERSION = 1
_POS = ["pos_z", "pos_y", "pos_x"]

COUNT_FEATURES: list[str] = [
    "size", "volume",
    "intensity_mean", "intensity_var", "intensity_min", "intensity_max",
    "intensity_skew", "intensity_kurtosis", "intensity_sum",
    "radius_0", "radius_1", "radius_2", "elongation",
]  # fmt: skip
COUNT_DERIVED: list[str] = ["size_rel", "intensity_sum_rel"]
COUNT_FEATURE_NAMES: list[str] = COUNT_FEATURES + COUNT_DERIVED

DIVISION_FEATURES: list[str] = [
    "n_candidates",                     # children found within max_distance (0, 1, 2): the "missing" indicator
    "child_distance_0", "child_distance_1",  # parent -> nearest / second-nearest child; missing: 2 * max_distance
    "children_distance",                # child 0 <-> child 1; missing: 2 * max_distance
    "children_angle",                   # degrees between the parent->child vectors (division ~180); missing: 0
    "parent_children_size_ratio",       # parent size / sum of the children's sizes; missing: 0
    "children_size_ratio",              # smaller / larger child size (1 = equal daughters); missing: 0
    "parent_children_intensity_ratio",  # parent mean / mean of the children's means; missing: 0
    "children_intensity_ratio",         # smaller / larger child mean; missing: 0
    "parent_size", "parent_size_rel",   # size, and relative to the frame's median object
    "parent_intensity_mean", "parent_intensity_rel",
    "parent_intensity_per_size",        # intensity_rel / size_rel: mitotic cells are compact and bright
    "parent_elongation", "parent_radius_0",
]  # fmt: skip


def save_optional(clf: "ObjectClassifier | None", path: str | Path, *, kind: str) -> None:
    """Write a classifier, or a file recording that there is none (so the fall-back is explicit, not silent)."""
    if clf is not None:
        clf.save(path)
        return
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump({"format": _FORMAT, "version": _VERSION, "kind": kind, "none": True}, fh)


def load_optional(path: str | Path, *, kind: str) -> "ObjectClassifier | None":
    """Read what ``save_optional`` wrote: a classifier, or None for 'no classifier, use the fall-back'."""
    try:
        with open(path, "rb") as fh:
            state = pickle.load(fh)
        if isinstance(state, dict) and state.get("format") == _FORMAT and state.get("none"):
            return None
    except Exception:  # let load() give its precise message
        pass
    return ObjectClassifier.load(path, kind=kind)


def count_columns(max_count: int) -> list[str]:
    """Column names p_count_0 .. p_count_<max_count>."""
    return [f"p_count_{k}" for k in range(max_count + 1)]


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, 0 where b is (nearly) 0: feature values must stay finite."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    ok = np.abs(b) > 1e-12
    return np.where(ok, a / np.where(ok, b, 1.0), 0.0)


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["frame", "label"], kind="stable")


def _index(table: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [table["frame"].to_numpy(np.int64), table["label"].to_numpy(np.int64)], names=["frame", "label"]
    )


def _frame_median(table: pd.DataFrame, column: str) -> np.ndarray:
    return table.groupby("frame")[column].transform("median").to_numpy(float)


def normalised_intensities(table: pd.DataFrame, levels) -> pd.DataFrame:
    """The table with its intensity statistics mapped through the movie's normalisation levels (lo → 0, hi → 1),
    so that the count classifier carries over to a dimmer or offset movie. ``levels`` None: unchanged."""
    if levels is None:
        return table
    lo, hi = (float(v) for v in levels)
    span = hi - lo if hi > lo else 1.0
    t = table.copy()
    for c in ("intensity_mean", "intensity_min", "intensity_max"):
        t[c] = (t[c].to_numpy(float) - lo) / span
    t["intensity_var"] = t["intensity_var"].to_numpy(float) / span**2
    t["intensity_sum"] = (t["intensity_sum"].to_numpy(float) - lo * t["size"].to_numpy(float)) / span
    return t


def count_features(table: pd.DataFrame, levels=None) -> np.ndarray:
    """Feature matrix (n_objects, len(COUNT_FEATURE_NAMES)) of the count classifier, in the table's row order.

    ``levels`` (low, high): the movie's intensity normalisation levels (see :func:`normalised_intensities`)."""
    missing = [c for c in COUNT_FEATURES + ["frame"] if c not in table.columns]
    if missing:
        raise InputError(f"object table lacks column(s) {missing} needed by the count classifier")
    if not len(table):
        return np.empty((0, len(COUNT_FEATURE_NAMES)))
    table = normalised_intensities(table, levels)
    size_rel = _ratio(table["size"].to_numpy(float), _frame_median(table, "size"))
    sum_rel = _ratio(table["intensity_sum"].to_numpy(float), _frame_median(table, "intensity_sum"))
    x = np.column_stack([table[COUNT_FEATURES].to_numpy(float), size_rel, sum_rel])
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def _check_max_distance(max_distance) -> float:
    try:
        md = float(max_distance)
    except (TypeError, ValueError):
        md = float("nan")
    if not np.isfinite(md) or md <= 0:
        raise ConfigError(f"max_distance must be a positive number (physical units), got {max_distance!r}")
    return md


def division_features(
    table_t: pd.DataFrame, table_t1: pd.DataFrame | None, *, max_distance: float
) -> pd.DataFrame:
    """Division features (DIVISION_FEATURES) of every object of frame t, indexed (frame, label) like ``table_t``.

    ``table_t1``: the objects of frame t+1; None (or empty) for the movie's last frame, which gives every object
    the "no child" values. Children = the two nearest objects of t+1 (physical positions) within max_distance of
    the parent, moved along the flow when the table has flow columns.
    """
    md = _check_max_distance(max_distance)
    if len(table_t) and table_t["frame"].nunique() > 1:
        raise InputError(f"division_features takes one frame's objects, got frames {sorted(table_t['frame'].unique())}")
    t = _sorted(table_t)
    n = len(t)
    p_pos = advected_positions(t)  # where the parent would be in t+1 along the flow (config key flow), else itself
    missing_d = 2.0 * md
    dist = np.full((n, 2), np.inf)
    child = np.zeros((n, 2), dtype=np.int64)
    if table_t1 is not None and len(table_t1) and n:
        c = _sorted(table_t1)
        c_pos = c[_POS].to_numpy(float)
        k = min(2, len(c))
        d, j = cKDTree(c_pos).query(p_pos, k=k, distance_upper_bound=md)
        d, j = np.asarray(d).reshape(n, k), np.asarray(j).reshape(n, k)
        dist[:, :k] = d
        child[:, :k] = np.where(np.isfinite(d), j, 0)
        c_size = c["size"].to_numpy(float)[child]
        c_int = c["intensity_mean"].to_numpy(float)[child]
        c_xyz = c_pos[child]  # (n, 2, 3)
    else:
        c_size = c_int = np.zeros((n, 2))
        c_xyz = np.zeros((n, 2, 3))
    has = np.isfinite(dist)
    n_cand = has.sum(axis=1)
    both = n_cand == 2
    c_size = np.where(has, c_size, 0.0)
    c_int = np.where(has, c_int, 0.0)

    p_size = t["size"].to_numpy(float)
    p_int = t["intensity_mean"].to_numpy(float)
    v = c_xyz - p_pos[:, None, :]
    norm = np.linalg.norm(v, axis=2)
    cos = _ratio((v[:, 0] * v[:, 1]).sum(axis=1), norm[:, 0] * norm[:, 1])
    angle = np.where(both & (norm.min(axis=1) > 0), np.degrees(np.arccos(np.clip(cos, -1, 1))), 0.0)
    mean_c_int = _ratio(c_int.sum(axis=1), np.maximum(n_cand, 1))
    size_rel = _ratio(p_size, np.median(p_size)) if n else p_size
    int_rel = _ratio(p_int, np.median(p_int)) if n else p_int
    cols = {
        "n_candidates": n_cand.astype(float),
        "child_distance_0": np.where(has[:, 0], dist[:, 0], missing_d),
        "child_distance_1": np.where(has[:, 1], dist[:, 1], missing_d),
        "children_distance": np.where(both, np.linalg.norm(c_xyz[:, 0] - c_xyz[:, 1], axis=1), missing_d),
        "children_angle": angle,
        "parent_children_size_ratio": _ratio(p_size, c_size.sum(axis=1)),
        "children_size_ratio": np.where(both, _ratio(c_size.min(axis=1), c_size.max(axis=1)), 0.0),
        "parent_children_intensity_ratio": np.where(n_cand > 0, _ratio(p_int, mean_c_int), 0.0),
        "children_intensity_ratio": np.where(both, _ratio(c_int.min(axis=1), c_int.max(axis=1)), 0.0),
        "parent_size": p_size,
        "parent_size_rel": size_rel,
        "parent_intensity_mean": p_int,
        "parent_intensity_rel": int_rel,
        "parent_intensity_per_size": _ratio(int_rel, size_rel),
        "parent_elongation": t["elongation"].to_numpy(float),
        "parent_radius_0": t["radius_0"].to_numpy(float),
    }
    df = pd.DataFrame(cols, index=_index(t), columns=DIVISION_FEATURES)
    df = df.fillna(0.0).replace([np.inf, -np.inf], 0.0)
    # Back to the caller's row order.
    return df.reindex(_index(table_t))


# --- the classifier object ---------------------------------------------------------------------------------------

@dataclass
class ObjectClassifier:
    """A trained object classifier: kind "count" or "division", the forest and what it was trained with."""

    kind: str
    forest: RandomForestClassifier
    feature_names: list[str]
    classes: list[int]
    max_count: int = 2
    max_distance: float | None = None  # division features' neighbour radius (division classifiers)
    spatial_ndim: int | None = None
    info: dict = field(default_factory=dict)  # training summary: samples, class counts, dataset metadata
    source: str = field(default="", compare=False, repr=False)  # the file it was loaded from

    def save(self, path: str | Path) -> None:
        """Write the classifier (pickle) atomically."""
        state = {k: getattr(self, k) for k in
                 ("kind", "forest", "feature_names", "classes", "max_count", "max_distance", "spatial_ndim", "info")}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                pickle.dump({"format": _FORMAT, "version": _VERSION, **state}, fh, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, path: str | Path, kind: str | None = None) -> ObjectClassifier:
        """Read a classifier written by ``save``; InputError naming the file if it is not one (or not ``kind``)."""
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                state = pickle.load(fh)
        except FileNotFoundError:
            raise InputError(f"{path}: object classifier file does not exist") from None
        except Exception as exc:  # unpickling raises many types on garbage input
            raise InputError(f"{path}: not a lineageflow object classifier (cannot unpickle: {exc})") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise InputError(f"{path}: not a lineageflow object classifier file")
        if state.get("version") != _VERSION:
            raise InputError(f"{path}: object classifier format version {state.get('version')} is not supported "
                             f"(expected {_VERSION}); retrain it")
        try:
            clf = cls(**{k: v for k, v in state.items() if k not in ("format", "version")})
        except TypeError as exc:
            raise InputError(f"{path}: object classifier file is incomplete: {exc}") from None
        clf.source = str(path)
        if kind is not None and clf.kind != kind:
            raise InputError(f"{path}: is a {clf.kind} classifier, but a {kind} classifier is needed here")
        return clf

    def _check(self, kind: str, features: list[str], ndim: int | None) -> None:
        name = self.source or f"the {self.kind} classifier"
        if self.kind != kind:
            raise InputError(f"{name}: is a {self.kind} classifier, but a {kind} classifier is needed here")
        if list(self.feature_names) != list(features):
            raise InputError(f"{name}: was trained on features {self.feature_names}, this version computes "
                             f"{features}; retrain the classifier")
        if ndim is not None and self.spatial_ndim is not None and ndim != self.spatial_ndim:
            raise InputError(f"{name}: was trained on {self.spatial_ndim}D objects, the object table is {ndim}D "
                             f"(an object table from another dataset?)")


def _ndim(tables: Sequence[pd.DataFrame]) -> int | None:
    dims = set()
    for t in tables:
        if len(t) and "spatial_ndim" in t.columns:
            dims.update(int(d) for d in pd.unique(t["spatial_ndim"]))
    if len(dims) > 1:
        raise InputError(f"training tables mix {sorted(dims)}D objects (tables from different datasets?)")
    return dims.pop() if dims else None


def _targets(values, n: int, what: str) -> np.ndarray:
    y = np.asarray(values, dtype=float).reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"{what}: {y.shape[0]} targets for a table of {n} objects")
    return y


def _forest(n_trees: int, seed: int, class_weight, n_jobs: int) -> RandomForestClassifier:
    if int(n_trees) < 1:
        raise ConfigError(f"n_trees must be >= 1, got {n_trees!r}")
    return RandomForestClassifier(n_estimators=int(n_trees), random_state=int(seed), class_weight=class_weight,
                                  n_jobs=n_jobs)


def _check_classes(y: np.ndarray, source: str, names: dict[int, str]) -> list[int]:
    where = f"{source}: " if source else ""
    if y.size == 0:
        raise InputError(f"{where}no annotated objects; a classifier needs annotated objects of at least two classes")
    classes = sorted(int(c) for c in np.unique(y))
    if len(classes) < 2:
        c = classes[0]
        raise InputError(f"{where}all {y.size} annotated objects are class {c} ({names.get(c, c)}); a classifier "
                         f"needs at least two classes: annotate some objects of another class")
    return classes


def train_count_classifier(
    tables: Sequence[pd.DataFrame],
    counts: Sequence,
    *,
    max_count: int = 2,
    n_trees: int = 100,
    seed: int = 0,
    class_weight=None,
    n_jobs: int = 1,
    source: str = "",
    info: dict | None = None,
    allow_single_class: bool = False,
    levels=None,
) -> ObjectClassifier:
    """Train the count classifier. ``counts[i]`` holds one value per row of ``tables[i]`` (same order):
    the annotated count, NaN = not annotated. Counts above ``max_count`` are clipped to it.
    ``source`` names the annotations in error messages; ``info`` is stored with the classifier.
    ``levels``: per table, the (low, high) intensity normalisation levels of its movie (None = raw intensities);
    a classifier trained on normalised intensities needs its movie's levels at prediction too.
    """
    if len(tables) != len(counts):
        raise ValueError(f"{len(tables)} tables but {len(counts)} count arrays")
    levels = list(levels) if levels is not None else [None] * len(tables)
    if len(levels) != len(tables) or len({lv is None for lv in levels}) > 1:
        raise ValueError("levels: one (low, high) pair per table, or None for all")
    if int(max_count) < 1:
        raise ConfigError(f"max_count must be >= 1, got {max_count!r}")
    xs, ys = [], []
    for table, cnt, lv in zip(tables, counts, levels):
        y = _targets(cnt, len(table), "counts")
        order = np.lexsort((table["label"].to_numpy(), table["frame"].to_numpy()))
        t = table.iloc[order]
        y = y[order]
        keep = ~np.isnan(y)
        if np.any(y[keep] < 0) or np.any(y[keep] != np.round(y[keep])):
            bad = y[keep][(y[keep] < 0) | (y[keep] != np.round(y[keep]))][0]
            raise InputError(f"{source + ': ' if source else ''}count {bad:g} is not a non-negative integer")
        xs.append(count_features(t, lv)[keep])
        ys.append(np.minimum(y[keep], max_count).astype(np.int64))
    x = np.concatenate(xs) if xs else np.empty((0, len(COUNT_FEATURE_NAMES)))
    y = np.concatenate(ys) if ys else np.empty(0, np.int64)
    if allow_single_class and y.size and np.unique(y).size == 1:
        # annotations derived from ground truth where every object is, e.g., a single cell (GT masks as labels):
        # the honest model is "always that class", not a forest
        from sklearn.dummy import DummyClassifier

        classes = [int(y[0])]
        forest = DummyClassifier(strategy="prior").fit(x, y)
    else:
        classes = _check_classes(y, source, {0: "false detection", 1: "one object"})
        forest = _forest(n_trees, seed, class_weight, n_jobs).fit(x, y)
    summary = {"n_samples": int(y.size), "class_counts": {int(c): int((y == c).sum()) for c in classes},
               "n_trees": int(n_trees), "seed": int(seed), **(info or {}),
               "normalised_intensity": levels[0] is not None}
    return ObjectClassifier("count", forest, list(COUNT_FEATURE_NAMES), classes, int(max_count), None,
                            _ndim(tables), summary)


def train_division_classifier(
    pairs: Sequence[tuple[pd.DataFrame, pd.DataFrame | None]],
    labels: Sequence,
    *,
    max_distance: float,
    n_trees: int = 100,
    seed: int = 0,
    class_weight="balanced",
    n_jobs: int = 1,
    source: str = "",
    info: dict | None = None,
) -> ObjectClassifier:
    """Train the division classifier. ``pairs[i]`` = (objects of frame t, objects of t+1 or None for the last
    frame); ``labels[i]`` one value per row of ``pairs[i][0]``: 1 = divides, 0 = does not, NaN = not annotated.
    ``class_weight`` defaults to "balanced": divisions are rare, and the tracking model filters false ones.
    """
    if len(pairs) != len(labels):
        raise ValueError(f"{len(pairs)} frame pairs but {len(labels)} label arrays")
    md = _check_max_distance(max_distance)
    xs, ys = [], []
    where = f"{source}: " if source else ""
    for (t0, t1), lab in zip(pairs, labels):
        y = _targets(lab, len(t0), "division labels")
        feats = division_features(t0, t1, max_distance=md)  # caller's row order, like y
        keep = ~np.isnan(y)
        if np.any((y[keep] != 0) & (y[keep] != 1)):
            raise InputError(f"{where}division annotations must be 0 or 1, got {sorted(set(y[keep]) - {0.0, 1.0})}")
        order = np.lexsort((feats.index.get_level_values("label"), feats.index.get_level_values("frame")))
        keep_sorted = keep[order]
        xs.append(feats.to_numpy(float)[order][keep_sorted])
        ys.append(y[order][keep_sorted].astype(np.int64))
    x = np.concatenate(xs) if xs else np.empty((0, len(DIVISION_FEATURES)))
    y = np.concatenate(ys) if ys else np.empty(0, np.int64)
    classes = _check_classes(y, source, {0: "no division", 1: "division"})
    forest = _forest(n_trees, seed, class_weight, n_jobs).fit(x, y)
    summary = {"n_samples": int(y.size), "class_counts": {int(c): int((y == c).sum()) for c in classes},
               "n_trees": int(n_trees), "seed": int(seed), **(info or {})}
    return ObjectClassifier("division", forest, list(DIVISION_FEATURES), classes, 1, md,
                            _ndim([p[0] for p in pairs]), summary)


# --- prediction --------------------------------------------------------------------------------------------------

def _table_ndim(table: pd.DataFrame) -> int | None:
    if not len(table) or "spatial_ndim" not in table.columns:
        return None
    return int(table["spatial_ndim"].iloc[0])


def predict_counts(
    clf: ObjectClassifier | None,
    table: pd.DataFrame,
    *,
    max_count: int | None = None,
    fallback_confidence: float = 0.9,
    levels=None,
) -> pd.DataFrame:
    """P(count = 0..N) per object: DataFrame indexed (frame, label) in the table's row order, columns
    ``count_columns(N)``; rows sum to 1. N = ``max_count`` (default: the classifier's, else 2); a classifier's
    classes above N are added to the last column. ``clf`` None: the fall-back of the module docstring.
    ``levels``: the movie's (low, high) intensity normalisation levels, used when the classifier learned on
    normalised intensities.
    """
    n_max = int(max_count if max_count is not None else (clf.max_count if clf is not None else 2))
    if n_max < 1:
        raise ConfigError(f"max_count must be >= 1, got {max_count!r}")
    p = np.zeros((len(table), n_max + 1))
    if clf is None:
        conf = float(fallback_confidence)
        if not 0.0 < conf <= 1.0:
            raise ConfigError(f"fallback_confidence must be in (0, 1], got {fallback_confidence!r}")
        p[:, 1] = conf
        p[:, 0] = 1.0 - conf
    else:
        clf._check("count", COUNT_FEATURE_NAMES, _table_ndim(table))
        normalised = clf.info.get("normalised_intensity", False)
        if normalised and levels is None:
            raise InputError(f"{clf.source or 'the count classifier'} learned on normalised intensities: "
                             "give the movie's normalisation levels")
        if len(table):
            proba = clf.forest.predict_proba(count_features(table, levels if normalised else None))
            for j, c in enumerate(clf.forest.classes_):
                p[:, min(int(c), n_max)] += proba[:, j]
    p = np.maximum(p, EPSILON)
    p /= p.sum(axis=1, keepdims=True)
    return pd.DataFrame(p, index=_index(table), columns=count_columns(n_max))


def predict_division(
    clf: ObjectClassifier | None, table_t: pd.DataFrame, table_t1: pd.DataFrame | None
) -> pd.Series:
    """P(division) of every object of frame t (Series ``p_division`` indexed (frame, label), table_t's order).

    ``table_t1``: objects of frame t+1, None for the last frame. ``clf`` None: 0 for all (no divisions).
    Objects with no candidate child within the classifier's max_distance get 0.
    """
    index = _index(table_t)
    if clf is None or not len(table_t):
        return pd.Series(np.zeros(len(table_t)), index=index, name="p_division")
    clf._check("division", DIVISION_FEATURES, _table_ndim(table_t))
    feats = division_features(table_t, table_t1, max_distance=clf.max_distance)
    proba = clf.forest.predict_proba(feats.to_numpy(float))
    cls = list(clf.forest.classes_)
    p = proba[:, cls.index(1)] if 1 in cls else np.zeros(len(feats))
    p = np.clip(p, EPSILON, 1.0 - EPSILON)
    # a division needs children: two objects, or one holding both sisters (touching after mitosis)
    p = np.where(feats["n_candidates"].to_numpy() >= 1, p, 0.0)
    return pd.Series(p, index=index, name="p_division")


def classify_table(
    table: pd.DataFrame,
    *,
    count_clf: ObjectClassifier | None,
    division_clf: ObjectClassifier | None,
    n_frames: int,
    next_table: pd.DataFrame | None = None,
    frames: tuple[int, int] | None = None,
    max_count: int | None = None,
    fallback_confidence: float = 0.9,
    levels=None,
) -> pd.DataFrame:
    """Classify one chunk of frames: columns frame, label, p_count_0..N, p_division, sorted by (frame, label).

    ``frames`` = (first, end exclusive) of the chunk (default: the table's frames). ``next_table``: objects of
    the frame after the chunk (needed unless the chunk ends at the movie's last frame, ``n_frames`` - 1).
    Logs a warning when a fall-back is used.
    """
    t = _sorted(table).reset_index(drop=True)
    if frames is None:
        frames = (int(t["frame"].min()), int(t["frame"].max()) + 1) if len(t) else (0, 0)
    first, end = int(frames[0]), int(frames[1])
    if len(t) and (t["frame"].min() < first or t["frame"].max() >= end):
        raise InputError(f"object table has frames outside the chunk {first}..{end - 1}")
    if count_clf is None:
        log.warning("no count classifier: P(count=1) = %g, P(count=0) = %g for every object (fall-back)",
                    fallback_confidence, 1 - float(fallback_confidence))
    if division_clf is None:
        log.warning("no division classifier: P(division) = 0 for every object (fall-back: no divisions)")
    counts = predict_counts(count_clf, t, max_count=max_count, fallback_confidence=fallback_confidence,
                            levels=levels)
    p_div = np.zeros(len(t))
    if division_clf is not None and len(t):
        nxt = None if next_table is None else next_table[next_table["frame"] == end]
        if end < n_frames and nxt is None and (t["frame"] == end - 1).any():
            raise InputError(f"division features of frame {end - 1} need the objects of frame {end} "
                             f"(next chunk's table); none given")
        for f, rows in t.groupby("frame", sort=True).groups.items():
            cur = t.loc[rows]
            if f >= n_frames - 1:
                t1 = None  # last frame of the movie: no children
            elif f + 1 < end:
                t1 = t[t["frame"] == f + 1]
            else:
                t1 = nxt
            p_div[np.asarray(rows)] = predict_division(division_clf, cur, t1).to_numpy()
    out = t[["frame", "label"]].copy()
    for c in counts.columns:
        out[c] = counts[c].to_numpy()
    out["p_division"] = p_div
    return out


def train_from_annotations(
    table: pd.DataFrame,
    annotations_table: pd.DataFrame,
    *,
    max_count: int,
    max_distance: float,
    n_trees: int = 100,
    seed: int = 0,
    n_jobs: int = 1,
    source: str = "",
    info: dict | None = None,
    allow_single_class: bool = False,
    levels=None,
    extra_counts=(),
) -> tuple[ObjectClassifier, ObjectClassifier | None]:
    """Both classifiers from one movie's objects and their annotations (long table, see ``annotations``).

    ``extra_counts``: more (table, counts, levels) examples for the count classifier only (objects of augmented
    copies, :func:`lineageflow.segment.augmented_count_examples`). The division classifier is None (logged) when
    no annotated object divides.
    """
    from .annotations import targets

    extra = list(extra_counts)
    count_clf = train_count_classifier(
        [table, *(e[0] for e in extra)], [targets(annotations_table, table, "count"), *(e[1] for e in extra)],
        max_count=max_count, n_trees=n_trees, seed=seed, n_jobs=n_jobs, source=source, info=info,
        allow_single_class=allow_single_class, levels=None if levels is None else [levels, *(e[2] for e in extra)])
    by_frame = dict(tuple(table.groupby("frame", sort=True)))
    pairs = [(g, by_frame.get(t + 1)) for t, g in by_frame.items()]
    divs = [targets(annotations_table, g, "division") for g in by_frame.values()]
    if not any((d == 1).any() for d in divs):
        log.warning("no division among the annotations: no division classifier (P(division) = 0 everywhere)")
        return count_clf, None
    division_clf = train_division_classifier(pairs, divs, max_distance=max_distance, n_trees=n_trees, seed=seed,
                                             n_jobs=n_jobs, source=source, info=info)
    return count_clf, division_clf

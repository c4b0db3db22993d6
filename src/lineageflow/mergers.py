"""Split mergers (objects with count >= 2 after the tracking ILP) into single cells and relink them.

What ilastik's conservation tracking does after the solve: a detection that holds k >= 2 cells is split into
k objects by a Gaussian mixture on its voxel coordinates (physical units), seeded from the positions of the
cells flowing into it, and the links are redistributed so that every object is one cell.

Frames are processed in time order, so a merger's predecessors are already split when its turn comes:

* the cells entering an object ("tokens": a predecessor object or part, with its position) are matched to
  the object's parts by minimum total distance (``linear_sum_assignment``); unmatched parts start new tracks;
* a merger's parts are matched likewise to its outgoing flow, one slot per unit of flow (a merger successor
  with flow f gets f slots); a count-1 object passes itself along all its links (a division keeps 2 links);
* a merger that cannot be split (fewer voxels or distinct coordinates than k, absent from the label image)
  is kept as one cell (count 1) and logged; it keeps one incoming and one outgoing link (the nearest).

The result is a valid lineage: every object has count 1, at most one incoming and at most two outgoing
links, links forward in time (t -> t+1, or t -> t+g for gap links, which keep their ``frame_dst``). Every row gets a column ``merger_label``: the label of the merged object an
object was split from (its label in the input label image), 0 for objects that were not split out of a merger
(ilastik's ``mergerLabelId``).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from lineageflow.candidates import dst_frame
from lineageflow.errors import ConfigError, InputError
from lineageflow.features import FEATURE_COLUMNS, object_features

__all__ = ["MERGER_LABEL", "MergerResult", "resolve_mergers", "split_points"]

MERGER_LABEL = "merger_label"  # column: label of the merger an object was split from, 0 if none

_POS = ["pos_z", "pos_y", "pos_x"]
_CENTROID = ["centroid_z", "centroid_y", "centroid_x"]
_ALWAYS = [*_POS, *_CENTROID, "size"]  # geometry every new object gets, even if the input lacks it
_INTENSITY = [c for c in FEATURE_COLUMNS if c.startswith("intensity_")]
_FIT_MAX_POINTS = 50_000  # EM cost grows with voxels; a deterministic subsample is plenty for k Gaussians


@dataclass
class MergerResult:
    """Tracking solution with every merger split: one row per cell, single-cell links."""

    nodes: pd.DataFrame  # every active object, count 1; new objects carry recomputed geometry; + merger_label
    edges: pd.DataFrame  # frame (source), label_src, label_dst, frame_dst (+ flow = 1 if the input had it)
    new_labels: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> relabelled image (changed only)
    n_split: int = 0  # mergers split into >= 2 objects
    log: list[str] = field(default_factory=list)


def split_points(
    points: np.ndarray, k: int, *, seeds: np.ndarray | None = None, seed: int = 0, reg_covar: float = 1e-6
) -> np.ndarray:
    """Part index 0..m-1 (m <= k) of each point, from a k-component full-covariance Gaussian mixture.

    ``points`` (n, d) physical coordinates; ``seeds`` (k, d) initial means (else k-means++). Parts are
    numbered by their mean in lexicographic (z, y, x) order. All zeros when k < 2 or fewer than k distinct points.
    """
    points = np.asarray(points, dtype=float)
    n = len(points)
    if k < 2 or n < k or len(np.unique(points, axis=0)) < k:
        return np.zeros(n, dtype=np.int64)
    keep = np.ptp(points, axis=0) > 0  # a constant axis (e.g. one z slice) only makes the covariance singular
    X = points[:, keep]
    S = None if seeds is None else np.asarray(seeds, dtype=float)[:, keep]
    Xfit = X
    if n > _FIT_MAX_POINTS:
        rng = np.random.default_rng(seed)
        Xfit = X[np.sort(rng.choice(n, _FIT_MAX_POINTS, replace=False))]
    # With means_init the k-means++ init only sets tiny starting covariances: the first E-step is nearest-seed.
    gmm = GaussianMixture(
        n_components=k,
        covariance_type="full",
        random_state=seed,
        reg_covar=reg_covar,
        init_params="k-means++",
        means_init=S,
        max_iter=200,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(Xfit)
    part = gmm.predict(X)
    if np.unique(part).size < k:  # an empty component: k-means always fills k clusters on >= k distinct points
        km = KMeans(k, init=S if S is not None else "k-means++", n_init=1 if S is not None else 10, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            part = km.fit(X).labels_
    used = np.unique(part)
    means = np.array([points[part == u].mean(axis=0) for u in used])
    order = np.lexsort(means.T[::-1])
    remap = np.zeros(int(part.max()) + 1, dtype=np.int64)
    remap[used[order]] = np.arange(used.size)
    return remap[part]


def _check_inputs(nodes: pd.DataFrame, edges: pd.DataFrame) -> None:
    need = ["frame", "label", "count", *_POS]
    missing = [c for c in need if c not in nodes.columns]
    if missing:
        raise InputError(f"merger resolution: nodes table lacks columns {missing}")
    missing = [c for c in ("frame", "label_src", "label_dst") if c not in edges.columns]
    if missing:
        raise InputError(f"merger resolution: edges table lacks columns {missing}")
    if nodes.duplicated(["frame", "label"]).any():
        raise InputError("merger resolution: nodes table has duplicate (frame, label) rows")


def _voxel_size(voxel_size, ndim: int | None = None) -> np.ndarray:
    vs = np.asarray(voxel_size, dtype=float).ravel()
    if vs.size not in (2, 3) or not np.all(np.isfinite(vs)) or np.any(vs <= 0) or (ndim and vs.size != ndim):
        want = f"{ndim} " if ndim else "2 or 3 "
        raise ConfigError(f"voxel_size must be {want}positive numbers (z, y, x order), got {voxel_size!r}")
    return vs


def _match(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-total-distance pairs (i, j) between rows of a and rows of b (rectangular allowed)."""
    if len(a) == 0 or len(b) == 0:
        return []
    r, c = linear_sum_assignment(cdist(a, b))
    return sorted(zip(r.tolist(), c.tolist()))


def resolve_mergers(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    labels_at: Callable[[int], np.ndarray],
    voxel_size: Sequence[float],
    *,
    seed: int = 0,
    raw_at: Callable[[int], np.ndarray] | None = None,
) -> MergerResult:
    """Split every object with count k >= 2 into k objects and relink; see the module docstring.

    ``nodes``: frame, label, count, pos_z/y/x (+ any object-table columns); ``edges``: frame (source),
    label_src, label_dst, flow. ``labels_at(t)`` gives the label image of frame t (only called for frames
    with mergers). ``raw_at(t)``, if given, lets new objects get intensity features (else NaN).
    New objects' other columns are copied from the merger's row; appear/disappear/divide, when present,
    are recomputed from the final links. Count-0 rows are dropped. ``merger_label`` (added when absent, 0)
    is the merger's label on objects split out of it.
    """
    _check_inputs(nodes, edges)
    vs_in = _voxel_size(voxel_size)
    count_all = nodes["count"].fillna(0).to_numpy().astype(np.int64)
    active = count_all >= 1
    if not (count_all >= 2).any():  # nothing to split: hand the solution back as it is
        out_nodes = nodes.copy() if active.all() else nodes.loc[active].reset_index(drop=True)
        return MergerResult(nodes=_with_merger_label(out_nodes), edges=edges.copy(), new_labels={}, n_split=0,
                            log=[])

    log: list[str] = []
    nd = _with_merger_label(nodes.loc[active].sort_values(["frame", "label"], kind="stable").reset_index(drop=True))
    frame_of = nd["frame"].to_numpy(np.int64)
    label_of = nd["label"].to_numpy(np.int64)
    count_of = nd["count"].to_numpy().astype(np.int64)
    pos_of = nd[_POS].to_numpy(float)
    row_of = {(int(t), int(lab)): i for i, (t, lab) in enumerate(zip(frame_of, label_of))}
    # Largest label per frame over all rows (count-0 ones too: their label stays in the image).
    max_label = nodes.groupby("frame")["label"].max().astype(np.int64).to_dict()

    ed = edges.assign(frame_dst=dst_frame(edges))
    ed = ed.sort_values(["frame", "frame_dst", "label_src", "label_dst"], kind="stable").reset_index(drop=True)
    flows = ed["flow"].fillna(1).to_numpy().astype(np.int64) if "flow" in ed.columns else np.ones(len(ed), np.int64)
    out_edges: dict[tuple[int, int], list[tuple[tuple[int, int], int]]] = defaultdict(list)
    for t, src, dst, f, td in zip(ed["frame"].to_numpy(np.int64), ed["label_src"].to_numpy(np.int64),
                                  ed["label_dst"].to_numpy(np.int64), flows, ed["frame_dst"].to_numpy(np.int64)):  # fmt: skip
        t, src, dst, f, td = int(t), int(src), int(dst), int(f), int(td)
        if (t, src) not in row_of or (td, dst) not in row_of:
            log.append(f"edge frame {t} label {src} -> frame {td} label {dst} dropped: an end is not an active object")
            continue
        if f >= 1:
            out_edges[(t, src)].append(((td, dst), f))

    # tokens[(t, label)]: cells entering that object, as ((frame, label) of the cell's previous object, position).
    tokens: dict[tuple[int, int], list[tuple[tuple[int, int], np.ndarray]]] = defaultdict(list)
    links: list[tuple[int, int, int, int]] = []
    new_rows: list[dict] = []
    split_rows: set[int] = set()
    new_labels: dict[int, np.ndarray] = {}
    n_split = 0
    vs: np.ndarray | None = None

    for t in np.unique(frame_of).tolist():
        rows = np.flatnonzero(frame_of == t)
        img = new_img = None
        next_label = None
        frame_parts: list[tuple[int, int, np.ndarray]] = []  # (merger row, new label, flat voxel indices)
        for i in rows.tolist():
            L, k = int(label_of[i]), int(count_of[i])
            toks = tokens.pop((t, L), [])
            parts: list[tuple[tuple[int, int], np.ndarray]] = [((t, L), pos_of[i])]
            if k >= 2:
                if img is None:
                    img = np.asarray(labels_at(t))
                    if img.ndim not in (2, 3) or img.dtype.kind not in "iu":
                        raise InputError(f"labels of frame {t}: expected an integer (y, x) or (z, y, x) image, "
                                         f"got {img.dtype} {img.shape}")  # fmt: skip
                    vs = _voxel_size(vs_in, img.ndim)
                vox = np.flatnonzero(img.ravel() == L)
                pts = np.column_stack(np.unravel_index(vox, img.shape)) * vs
                off = 3 - img.ndim  # pos_* is always (z, y, x); 2D has z = 0
                seeds = np.array([p[off:] for _, p in toks]) if len(toks) == k else None
                if seeds is not None and len(np.unique(seeds.round(6), axis=0)) < k:
                    seeds = None  # both daughters of one division: identical seeds would never separate

                part = split_points(pts, k, seeds=seeds, seed=seed, reg_covar=float(vs.min()) ** 2 / 12.0)
                m = int(part.max()) + 1 if part.size else 0
                if m < 2:
                    why = "absent from the label image" if vox.size == 0 else f"{vox.size} voxel(s)"
                    log.append(f"frame {t} label {L}: merger of count {k} not split ({why}); kept as one object")
                else:
                    if next_label is None:
                        next_label = max(int(img.max()), int(max_label.get(t, 0))) + 1
                    if new_img is None:
                        new_img = img.copy()
                    labs = np.arange(next_label, next_label + m, dtype=np.int64)
                    next_label += m
                    parts = []
                    for j in range(m):
                        p3 = np.zeros(3)
                        p3[off:] = pts[part == j].mean(axis=0)
                        parts.append(((t, int(labs[j])), p3))
                        frame_parts.append((i, int(labs[j]), vox[part == j]))
                    split_rows.add(i)
                    n_split += 1
                    how = f"seeded from {k} incoming cells" if seeds is not None else "k-means++ init"
                    extra = f" (only {m} non-empty parts)" if m < k else ""
                    log.append(f"frame {t} label {L}: merger of count {k} split into labels "
                               f"{', '.join(map(str, labs.tolist()))}{extra}, {how}")  # fmt: skip
            # Incoming cells -> parts by minimum total distance.
            part_pos = np.array([p for _, p in parts])
            pairs = _match(np.array([p for _, p in toks]), part_pos)
            for r, c in pairs:
                links.append((*toks[r][0], parts[c][0][1], t))
            if len(toks) > len(pairs):
                lost = sorted({toks[r][0] for r in set(range(len(toks))) - {r for r, _ in pairs}})
                log.append(f"frame {t} label {L}: {len(toks) - len(pairs)} incoming cell(s) from (frame, label) "
                           f"{lost} not linked (object holds {len(parts)})")  # fmt: skip
            # Parts -> outgoing flow (one slot per unit of flow).
            outs = out_edges.get((t, L), [])
            if k == 1:
                for dst, f in outs:  # flow 2 from a single object: a division into a merger, one token per sister
                    tokens[dst].extend([parts[0]] * f)
            elif outs:
                slots = [dst for dst, f in outs for _ in range(f)]
                slot_pos = np.array([pos_of[row_of[dst]] for dst in slots])
                for r, c in _match(part_pos, slot_pos):
                    tokens[slots[c]].append(parts[r])

        if frame_parts:
            new_img = _fit_dtype(new_img, next_label - 1)
            for _, lab, v in frame_parts:
                np.put(new_img, v, lab)
            new_labels[int(t)] = new_img
            new_rows.extend(_new_rows(nd, frame_parts, new_img, t, vs, raw_at))

    for key, toks in sorted(tokens.items()):
        log.append(f"frame {key[0]} label {key[1]}: {len(toks)} incoming cell(s) not linked (not an active object)")

    out_nodes = _assemble_nodes(nd, split_rows, new_rows)
    out_edges_df = _assemble_edges(edges, links, out_nodes, log)
    _recompute_events(out_nodes, out_edges_df, nodes)
    return MergerResult(nodes=out_nodes, edges=out_edges_df, new_labels=new_labels, n_split=n_split, log=log)


def _with_merger_label(nodes: pd.DataFrame) -> pd.DataFrame:
    """``nodes`` with an int64 ``merger_label`` column (0 = not split out of a merger) when it has none."""
    if MERGER_LABEL not in nodes.columns:
        nodes = nodes.assign(**{MERGER_LABEL: np.zeros(len(nodes), dtype=np.int64)})
    return nodes


def _fit_dtype(img: np.ndarray, max_label: int) -> np.ndarray:
    """``img`` itself if ``max_label`` fits its dtype, else a copy in the smallest wider integer type."""
    if max_label <= np.iinfo(img.dtype).max:
        return img
    for dt in (np.uint16, np.uint32, np.uint64) if img.dtype.kind == "u" else (np.int32, np.int64):
        if max_label <= np.iinfo(dt).max:
            return img.astype(dt)
    raise InputError(f"label {max_label} does not fit any integer type")


def _new_rows(nd, frame_parts, new_img, t, vs, raw_at) -> list[dict]:
    """Rows for one frame's new objects: the merger's row, with geometry (and intensity) recomputed."""
    labs = np.array([lab for _, lab, _ in frame_parts])
    only = np.where(np.isin(new_img, labs), new_img, 0)
    raw = np.asarray(raw_at(t)) if raw_at is not None else np.zeros(only.shape, np.float32)
    feats = object_features(only, raw, frame=int(t), voxel_size=vs).set_index("label")
    cols = [c for c in FEATURE_COLUMNS if c in nd.columns or c in _ALWAYS]
    cols = [c for c in cols if c not in ("frame", "label")]
    rows = []
    for i, lab, _ in frame_parts:
        row = nd.iloc[i].to_dict()
        row[MERGER_LABEL] = int(row["label"])  # the merger this object was split from
        f = feats.loc[lab]
        row.update({c: f[c] for c in cols})
        if raw_at is None:
            row.update({c: np.nan for c in _INTENSITY if c in row})
        row["label"], row["count"] = int(lab), 1
        rows.append(row)
    return rows


def _assemble_nodes(nd: pd.DataFrame, split_rows: set[int], new_rows: list[dict]) -> pd.DataFrame:
    kept = nd.drop(index=sorted(split_rows))
    if new_rows:
        new = pd.DataFrame(new_rows)
        cols = list(kept.columns) + [c for c in new.columns if c not in kept.columns]
        for c in cols:
            if c not in kept.columns:
                kept[c] = np.nan
        new = new.reindex(columns=cols)
        for c in kept.columns:  # keep the input's dtypes where the values allow it
            try:
                new[c] = new[c].astype(kept[c].dtype)
            except (TypeError, ValueError):
                pass
        kept = pd.concat([kept[cols], new], ignore_index=True)
    kept["count"] = np.ones(len(kept), dtype=nd["count"].dtype if nd["count"].dtype.kind in "iu" else np.int64)
    return kept.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)


def _assemble_edges(edges: pd.DataFrame, links, nodes: pd.DataFrame, log: list[str]) -> pd.DataFrame:
    order = ["frame", "frame_dst", "label_src", "label_dst"]
    e = pd.DataFrame(links, columns=["frame", "label_src", "label_dst", "frame_dst"]).astype(np.int64)
    e = e.drop_duplicates().sort_values(order).reset_index(drop=True)
    # At most two children (a division): keep the nearest two. Only reachable with inconsistent input.
    pos = nodes.set_index(["frame", "label"])[_POS]
    n_out = e.groupby(["frame", "label_src"])["label_dst"].transform("size")
    if (n_out > 2).any():
        src = pos.reindex(pd.MultiIndex.from_arrays([e["frame"], e["label_src"]])).to_numpy()
        dst = pos.reindex(pd.MultiIndex.from_arrays([e["frame_dst"], e["label_dst"]])).to_numpy()
        e["_d"] = np.linalg.norm(src - dst, axis=1)
        e = e.sort_values(["frame", "label_src", "_d", "frame_dst", "label_dst"], kind="stable")
        keep = e.groupby(["frame", "label_src"]).cumcount() < 2
        for r in e.loc[~keep].itertuples():
            log.append(f"edge frame {r.frame} label {r.label_src} -> frame {r.frame_dst} label {r.label_dst} "
                       "dropped: more than 2 children")
        e = e.loc[keep].drop(columns="_d").sort_values(order).reset_index(drop=True)
    extra = [c for c in edges.columns if c not in ("frame", "label_src", "label_dst", "flow", "frame_dst")]
    if extra:  # carry other edge attributes where the link is an input link
        key = ["frame", "label_src", "label_dst", "frame_dst"]
        e = e.merge(edges.assign(frame_dst=dst_frame(edges))[key + extra].drop_duplicates(key), on=key, how="left")
    if "flow" in edges.columns:
        dt = edges["flow"].dtype if edges["flow"].dtype.kind in "iu" else np.int64
        e.insert(3, "flow", np.ones(len(e), dtype=dt))
    for c in ("frame", "label_src", "label_dst"):
        if edges[c].dtype.kind in "iu":
            e[c] = e[c].astype(edges[c].dtype)
    if "frame_dst" not in edges.columns:  # an input without gap links keeps its columns
        e = e.drop(columns="frame_dst")
    return e


def _recompute_events(nodes: pd.DataFrame, edges: pd.DataFrame, original: pd.DataFrame) -> None:
    """appear / disappear / divide (if present) from the final single-cell links, in place."""
    if not any(c in nodes.columns for c in ("appear", "disappear", "divide")):
        return
    key = pd.MultiIndex.from_arrays([nodes["frame"], nodes["label"]])
    n_in = pd.Series(1, index=pd.MultiIndex.from_arrays([dst_frame(edges), edges["label_dst"]]))
    n_in = n_in.groupby(level=[0, 1]).sum().reindex(key, fill_value=0).to_numpy()
    n_out = pd.Series(1, index=pd.MultiIndex.from_arrays([edges["frame"], edges["label_src"]]))
    n_out = n_out.groupby(level=[0, 1]).sum().reindex(key, fill_value=0).to_numpy()
    values = {"appear": n_in == 0, "disappear": n_out == 0, "divide": n_out >= 2}
    for c, v in values.items():
        if c in nodes.columns:
            nodes[c] = v.astype(original[c].dtype if original[c].dtype.kind in "iub" else np.int64)

"""Per-object feature table (one row per object), the input of classification and tracking.

2D and 3D give the same columns: in 2D the z columns are filled as a one-slice volume
(centroid_z = pos_z = 0, bbox z = 0..1, radius_2 = 0, axis_0_z = 0) and ``spatial_ndim`` = 2,
so downstream code never branches on dimensionality.

Columns (stable order, see FEATURE_COLUMNS; units: px = pixels, phys = physical units of voxel_size):
  frame, label            time point and object label (int64); rows sorted by label
  spatial_ndim            2 or 3 (int64)
  centroid_z/y/x          mean voxel coordinate (px)
  pos_z/y/x               centroid * voxel_size (phys)
  bbox_min_*/bbox_max_*   bounding box (px), max exclusive (numpy slice convention)
  size, volume            voxel count (int64); size * prod(voxel_size) (phys^ndim)
  intensity_*             mean, var (population, ddof=0), min, max, skew, kurtosis (excess), sum of the raw
                          inside the object, computed in float64 like ilastik/vigra (biased moments);
                          skew = kurtosis = 0 when the object's intensity is constant
  radius_0/1/2            sqrt of the eigenvalues of the covariance of the physical voxel coordinates,
                          descending (ilastik "RegionRadii", but physical instead of pixels)
  axis_0_z/y/x            unit vector of the main principal axis (physical space), sign fixed so that
                          the first clearly non-zero component is positive; all 0 if radius_0 == 0
  elongation              sqrt(l0 / l1) of the covariance with each voxel counted as a box (adds
                          voxel_size^2 / 12 per axis), so it is finite (>= 1) even for 1-pixel-thin objects
  border_distance         physical distance from the centroid to the nearest field-of-view border
                          (first/last pixel centre) over all spatial axes
  border_distance_yx      the same over y and x only (thin z-stacks put every cell near a z border)
  touches_border(_yx)     bounding box reaches the first or last pixel of the frame (bool)

``raw`` is the spatial intensity image of the same shape as the labels (pick a channel before calling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lineageflow.errors import ConfigError, InputError

__all__ = ["FEATURE_COLUMNS", "COLUMN_DTYPES", "ILASTIK_NAMES", "object_features", "empty_table", "check_table"]

_AX = ("z", "y", "x")

FEATURE_COLUMNS: list[str] = [
    "frame", "label", "spatial_ndim",
    "centroid_z", "centroid_y", "centroid_x",
    "pos_z", "pos_y", "pos_x",
    "bbox_min_z", "bbox_min_y", "bbox_min_x",
    "bbox_max_z", "bbox_max_y", "bbox_max_x",
    "size", "volume",
    "intensity_mean", "intensity_var", "intensity_min", "intensity_max",
    "intensity_skew", "intensity_kurtosis", "intensity_sum",
    "radius_0", "radius_1", "radius_2",
    "axis_0_z", "axis_0_y", "axis_0_x",
    "elongation",
    "border_distance", "border_distance_yx",
    "touches_border", "touches_border_yx",
]  # fmt: skip

_INT_COLUMNS = {"frame", "label", "spatial_ndim", "size"} | {f"bbox_{m}_{a}" for m in ("min", "max") for a in _AX}
_BOOL_COLUMNS = {"touches_border", "touches_border_yx"}
COLUMN_DTYPES: dict[str, str] = {
    c: ("int64" if c in _INT_COLUMNS else "bool" if c in _BOOL_COLUMNS else "float64") for c in FEATURE_COLUMNS
}

# Names of the same quantities in ilastik's object-feature export (vigra names). Caveats for an export:
# ilastik's suffixes _0/_1/_2 are x/y/z (vigra axis order), its Coord<Maximum> is inclusive (ours is
# exclusive: subtract 1), and its RegionRadii/RegionCenter are in pixels (ours: radii physical).
ILASTIK_NAMES: dict[str, str] = {
    "centroid_x": "RegionCenter_0", "centroid_y": "RegionCenter_1", "centroid_z": "RegionCenter_2",
    "bbox_min_x": "Coord<Minimum>_0", "bbox_min_y": "Coord<Minimum>_1", "bbox_min_z": "Coord<Minimum>_2",
    "bbox_max_x": "Coord<Maximum>_0", "bbox_max_y": "Coord<Maximum>_1", "bbox_max_z": "Coord<Maximum>_2",
    "size": "Count",
    "intensity_mean": "Mean", "intensity_var": "Variance", "intensity_min": "Minimum",
    "intensity_max": "Maximum", "intensity_skew": "Skewness", "intensity_kurtosis": "Kurtosis",
    "intensity_sum": "Sum",
    "radius_0": "RegionRadii_0", "radius_1": "RegionRadii_1", "radius_2": "RegionRadii_2",
    "axis_0_x": "RegionAxes_0", "axis_0_y": "RegionAxes_1", "axis_0_z": "RegionAxes_2",
}  # fmt: skip


def _where(source: str) -> str:
    return f"{source}: " if source else ""


def empty_table(ndim: int = 2) -> pd.DataFrame:
    """A feature table with all columns, the right dtypes and zero rows (``ndim`` kept for symmetry)."""
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    return pd.DataFrame({c: np.empty(0, dtype=COLUMN_DTYPES[c]) for c in FEATURE_COLUMNS})


def _voxel_size(voxel_size, ndim: int) -> np.ndarray:
    try:
        vs = np.asarray(voxel_size, dtype=float)
    except (TypeError, ValueError):
        vs = np.empty(0)
    if vs.shape != (ndim,) or not np.all(np.isfinite(vs)) or np.any(vs <= 0):
        raise ConfigError(
            f"voxel_size must be {ndim} positive numbers ({', '.join(_AX[3 - ndim:])}) for {ndim}D data; "
            f"got {voxel_size!r}"
        )
    return vs


def object_features(
    labels: np.ndarray, raw: np.ndarray, *, frame: int, voxel_size: Sequence[float], source: str = ""
) -> pd.DataFrame:
    """Measure every object of one frame; returns a DataFrame with FEATURE_COLUMNS, sorted by label.

    ``labels``: integer (y, x) or (z, y, x), 0 = background (labels need not be consecutive).
    ``raw``: spatial intensity image of the same shape. ``voxel_size``: one value per spatial axis.
    """
    labels = np.asarray(labels)
    raw = np.asarray(raw)
    if labels.dtype.kind not in "iu":
        raise InputError(f"{_where(source)}labels have dtype {labels.dtype}; expected an integer label image")
    if labels.ndim not in (2, 3):
        raise InputError(f"{_where(source)}labels have shape {labels.shape}; expected (y, x) or (z, y, x)")
    if raw.shape != labels.shape:
        raise InputError(
            f"{_where(source)}raw image shape {raw.shape} differs from label image shape {labels.shape}"
            + (" (pass a single channel of the raw)" if raw.shape[: labels.ndim] == labels.shape else "")
        )
    if raw.dtype.kind not in "biuf":
        raise InputError(f"{_where(source)}raw image has dtype {raw.dtype}; expected a real-valued image")
    ndim = labels.ndim
    vs = _voxel_size(voxel_size, ndim)

    flat = labels.ravel()
    fg = np.flatnonzero(flat)
    if fg.size == 0:
        return empty_table(ndim)
    lab = flat[fg].astype(np.int64)
    if lab.min() < 0:
        raise InputError(f"{_where(source)}labels contain negative values (min {lab.min()})")

    # Dense object index 0..n-1 per foreground voxel, in increasing label order.
    max_label = int(lab.max())
    if max_label <= 4 * lab.size + 1024:
        present = np.flatnonzero(np.bincount(lab, minlength=max_label + 1))
        lut = np.zeros(max_label + 1, dtype=np.int64)
        lut[present] = np.arange(present.size)
        ids = lut[lab]
    else:
        present, ids = np.unique(lab, return_inverse=True)
    n = present.size
    # One stable sort groups voxels by object; then every statistic is a reduceat over contiguous runs
    # (radix sort when ids fit in 16 bits).
    order = np.argsort(ids.astype(np.uint16) if n <= 65536 else ids, kind="stable")
    fg = fg[order]
    ids = ids[order]
    counts = np.bincount(ids, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))

    shape3 = (1,) * (3 - ndim) + labels.shape
    vs3 = np.concatenate((np.ones(3 - ndim), vs))
    coords = np.unravel_index(fg, labels.shape)
    coords = [np.zeros(fg.size, dtype=np.intp)] * (3 - ndim) + list(coords)

    cnt = counts.astype(np.float64)
    centroid = np.empty((n, 3))
    bbox_min = np.empty((n, 3), dtype=np.int64)
    bbox_max = np.empty((n, 3), dtype=np.int64)
    centred = []
    for a in range(3):
        c = coords[a]
        centroid[:, a] = np.add.reduceat(c, starts, dtype=np.float64) / cnt
        bbox_min[:, a] = np.minimum.reduceat(c, starts)
        bbox_max[:, a] = np.maximum.reduceat(c, starts) + 1
        centred.append((c - centroid[ids, a]) * vs3[a])  # physical, centred on the object
    cov = np.zeros((n, 3, 3))
    for a in range(3 - ndim, 3):
        for b in range(a, 3):
            cov[:, a, b] = cov[:, b, a] = np.add.reduceat(centred[a] * centred[b], starts) / cnt

    evals, evecs = np.linalg.eigh(cov)  # ascending
    evals = np.clip(evals[:, ::-1], 0.0, None)
    radii = np.sqrt(evals)
    axis0 = evecs[:, :, -1].copy()
    # Deterministic sign: first clearly non-zero component (z, y, x order) positive.
    big = np.abs(axis0) > 1e-6
    first = np.argmax(big, axis=1)
    sign = np.where(axis0[np.arange(n), first] < 0, -1.0, 1.0)
    axis0 *= sign[:, None]
    axis0[radii[:, 0] == 0] = 0.0
    axis0 += 0.0  # no negative zeros in the table
    # Elongation from the box-voxel covariance: finite even for one-pixel-thin objects.
    boxed = cov.copy()
    for a in range(3 - ndim, 3):
        boxed[:, a, a] += vs3[a] ** 2 / 12.0
    bev = np.linalg.eigvalsh(boxed)[:, ::-1]
    elongation = np.sqrt(bev[:, 0] / bev[:, 1])

    vals = raw.ravel()[fg].astype(np.float64)
    isum = np.add.reduceat(vals, starts)
    mean = isum / cnt
    d = vals - mean[ids]
    d2 = d * d
    m2 = np.add.reduceat(d2, starts) / cnt
    m3 = np.add.reduceat(d2 * d, starts) / cnt
    m4 = np.add.reduceat(d2 * d2, starts) / cnt
    # Constant objects: m2 is 0 up to rounding of the mean (same guard as scipy.stats.skew).
    const = m2 <= (np.finfo(np.float64).resolution * np.abs(mean)) ** 2
    safe = np.where(const, 1.0, m2)
    skew = np.where(const, 0.0, m3 / safe**1.5)
    kurt = np.where(const, 0.0, m4 / safe**2 - 3.0)

    # Border distances from the centroid to the first/last pixel centre of each spatial axis.
    spatial = range(3 - ndim, 3)
    dist = np.stack(
        [np.minimum(centroid[:, a], shape3[a] - 1 - centroid[:, a]) * vs3[a] for a in spatial], axis=1
    )
    touch = np.stack([(bbox_min[:, a] == 0) | (bbox_max[:, a] == shape3[a]) for a in spatial], axis=1)

    pos = centroid * vs3
    if ndim == 2:
        pos[:, 0] = 0.0
    cols: dict[str, np.ndarray] = {
        "frame": np.full(n, int(frame), dtype=np.int64),
        "label": present.astype(np.int64),
        "spatial_ndim": np.full(n, ndim, dtype=np.int64),
    }
    for a, ax in enumerate(_AX):
        cols[f"centroid_{ax}"] = centroid[:, a]
    for a, ax in enumerate(_AX):
        cols[f"pos_{ax}"] = pos[:, a]
    for a, ax in enumerate(_AX):
        cols[f"bbox_min_{ax}"] = bbox_min[:, a]
    for a, ax in enumerate(_AX):
        cols[f"bbox_max_{ax}"] = bbox_max[:, a]
    cols["size"] = counts.astype(np.int64)
    cols["volume"] = cnt * float(np.prod(vs))
    cols["intensity_mean"] = mean
    cols["intensity_var"] = m2
    cols["intensity_min"] = np.minimum.reduceat(vals, starts)
    cols["intensity_max"] = np.maximum.reduceat(vals, starts)
    cols["intensity_skew"] = skew
    cols["intensity_kurtosis"] = kurt
    cols["intensity_sum"] = isum
    for k in range(3):
        cols[f"radius_{k}"] = radii[:, k]
    for a, ax in enumerate(_AX):
        cols[f"axis_0_{ax}"] = axis0[:, a]
    cols["elongation"] = elongation
    cols["border_distance"] = dist.min(axis=1)
    cols["border_distance_yx"] = dist[:, -2:].min(axis=1)
    cols["touches_border"] = touch.any(axis=1)
    cols["touches_border_yx"] = touch[:, -2:].any(axis=1)
    df = pd.DataFrame(cols, columns=FEATURE_COLUMNS)
    return df.astype(COLUMN_DTYPES)


def check_table(df: pd.DataFrame, source: str = "") -> None:
    """Raise InputError if ``df`` is not a valid feature table (missing columns, wrong dtypes, duplicates).

    Extra columns are allowed (later stages add their own). Float columns may hold integers.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{_where(source)}expected a feature table (DataFrame), got {type(df).__name__}")
    missing = [c for c in FEATURE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"{_where(source)}feature table is missing {len(missing)} column(s): {', '.join(missing)}"
        )
    wrong = []
    for c in FEATURE_COLUMNS:
        kind = getattr(df[c].dtype, "kind", "O")
        want = COLUMN_DTYPES[c]
        ok = kind in "iu" if want == "int64" else kind == "b" if want == "bool" else kind in "fiu"
        if not ok:
            wrong.append(f"{c} is {df[c].dtype} (expected {want})")
    if wrong:
        raise InputError(f"{_where(source)}feature table has wrong column types: {'; '.join(wrong)}")
    if len(df):
        if (df["label"] <= 0).any():
            raise InputError(f"{_where(source)}feature table has labels <= 0 (0 is background)")
        dup = df.duplicated(["frame", "label"])
        if dup.any():
            f, lab = df.loc[dup, ["frame", "label"]].iloc[0]
            raise InputError(
                f"{_where(source)}feature table has {int(dup.sum())} duplicate (frame, label) rows, "
                f"e.g. frame {f}, label {lab}"
            )

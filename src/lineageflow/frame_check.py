"""Bad raw frames: per-frame statistics of the raw movie, each frame classified, and what to do with the bad ones.

Real movies have frames that carry no usable image: a focus failure, a closed shutter, a dropped plane, a camera
that wrote zeros or NaN. Tracked as they are, such a frame makes objects from noise (or none at all), and one bad
frame sampled into the movie's normalisation levels shifts every other frame. Every frame is measured by
:func:`frame_stats` where it is read anyway (rules pixels_predict and qc_frames, chunk by chunk): finite fraction,
min, max, mean, std, fraction of zeros, fraction at the frame's maximum. :func:`check_frames` classifies each frame
(column ``kind``; ``kinds`` lists every kind that applies, most telling first):

- ``non_finite``: some pixel is NaN or infinite (a frame without any finite pixel is also ``empty``);
- ``saturated``: more than ``saturated_fraction`` of the pixels sit at the frame's maximum, and that maximum is a
  ceiling: the frame is not constant (clipped), or it is the integer dtype's maximum (65535 for uint16);
- ``empty``: no signal: a constant frame (std 0, e.g. all zeros) or no finite pixel;
- ``abnormal``: the frame's mean or std is an outlier against the movie: its robust z-score exceeds ``abnormal_z``
  both against the whole movie (median and median absolute deviation, MAD) and against the frames nearest in time
  (residual from the median of the ``NEIGHBOURS`` nearest, scaled by the MAD of the same residual over the movie).
  Both must agree, so that a slow trend (bleaching, cells multiplying) or a step between two parts of a movie is
  not an outlier. Each spread is at least ``MIN_RELATIVE_SIGMA`` of the movie's median value, so that a very steady
  movie is not flagged for a trivial change. The movie is its *reference*: the frames rule pixels_normalise reads
  for the normalisation levels (evenly spaced, ``pixels.normalise.sample_frames``), less those of the other kinds;
  :func:`reference` makes it, at least ``MIN_REFERENCE_FRAMES`` are needed;
- ``ok``: none of these.

A frame whose dtype differs from the movie's (the most common dtype among the reference frames) gets a ``note``; it
is not a bad frame: like every frame it is converted to float before the filter bank.

Handling (config ``input_check.bad_frames``, :func:`frames_to_skip`): ``skip`` (default) makes the object stage
give the bad frames no objects, so that tracking sees a missing frame; ``keep`` processes them as they are.
Either way, non-finite pixels are replaced (:func:`fill_non_finite`) by the frame's median finite value (the
movie's low normalisation level in a frame without any) before the filter bank, and bad frames never contribute to
the movie's normalisation levels.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np
import pandas as pd

from .errors import InputError

KINDS = ("non_finite", "saturated", "empty", "abnormal")  # most telling first; "ok" otherwise
MODES = ("skip", "keep")
ACTIONS = {"skip": "skipped: no objects in this frame", "keep": "kept: processed as it is"}
MIN_REFERENCE_FRAMES = 5  # good reference frames needed to call any frame abnormal
MIN_RELATIVE_SIGMA = 0.02  # robust spreads are at least this fraction of the movie's median value
NEIGHBOURS = 4  # reference frames nearest in time whose median is a frame's local reference
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation

STAT_COLUMNS = ("frame", "file", "dtype", "finite_fraction", "min", "max", "mean", "std", "zero_fraction",
                "max_fraction", "dtype_max")
COLUMNS = ("frame", "file", "dtype", "kind", "kinds", "reason", "note", "finite_fraction", "min", "max", "mean",
           "std", "zero_fraction", "saturated_fraction", "z_mean", "z_std")
_TEXT = ("file", "dtype", "kind", "kinds", "reason", "note")


def frame_stats(image: np.ndarray, *, frame: int, file: str = "") -> dict:
    """One frame's statistics (one channel). Fractions are of all pixels; min/max/mean/std of the finite ones (NaN
    when there is none). ``max_fraction``: pixels equal to the frame's maximum; ``dtype_max``: the integer dtype's
    maximum (NaN for float data)."""
    a = np.asarray(image)
    if a.dtype == bool:
        a = a.view(np.uint8)
    n = max(a.size, 1)
    values = a.reshape(-1)
    if a.dtype.kind in "fc":
        finite = np.isfinite(values)
        if not finite.all():
            values = values[finite]
    row = {"frame": int(frame), "file": str(file), "dtype": str(a.dtype), "finite_fraction": values.size / n,
           "dtype_max": float(np.iinfo(a.dtype).max) if a.dtype.kind in "ui" else np.nan}
    if values.size:
        lo, hi = values.min(), values.max()
        row.update(min=float(lo), max=float(hi), mean=float(values.mean(dtype=np.float64)),
                   std=float(values.std(dtype=np.float64)), zero_fraction=np.count_nonzero(values == 0) / n,
                   max_fraction=np.count_nonzero(values == hi) / n)
    else:
        row.update(min=np.nan, max=np.nan, mean=np.nan, std=np.nan, zero_fraction=0.0, max_fraction=0.0)
    return row


def _stats_table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(STAT_COLUMNS)).sort_values("frame", kind="stable").reset_index(drop=True)


def _frame_kinds(stats: pd.DataFrame, saturated_fraction: float) -> tuple[dict, np.ndarray]:
    """Per frame, the kinds that need no other frame (non_finite, saturated, empty), and its saturated fraction."""
    lo, hi = stats["min"].to_numpy(float), stats["max"].to_numpy(float)
    finite = stats["finite_fraction"].to_numpy(float)
    constant = (finite == 0) | (lo == hi)
    ceiling = ~constant | (hi == stats["dtype_max"].to_numpy(float))  # clipped, or at the integer dtype's maximum
    saturated = np.where(ceiling & (finite > 0), stats["max_fraction"].to_numpy(float), 0.0)
    return {"non_finite": finite < 1, "saturated": saturated > saturated_fraction, "empty": constant}, saturated


def _majority(values: list[str]) -> str:
    """The most common value; ties go to the earliest."""
    return max(values, key=lambda v: (values.count(v), -values.index(v))) if values else ""


def reference(rows: list[dict], *, saturated_fraction: float = 0.5, dtype: str = "") -> dict:
    """The movie's reference for :func:`check_frames` from the :func:`frame_stats` rows of a sample of its frames:
    the mean and std of the sampled frames that are neither non-finite, saturated nor empty (``left_out``: those
    that are; :func:`sample_movie` also leaves out abnormal ones), and the movie's dtype (the sample's most common; ``dtype`` when there is no sample). JSON-able."""
    stats = _stats_table(rows)
    kinds, _ = _frame_kinds(stats, saturated_fraction)
    good = ~(kinds["non_finite"] | kinds["saturated"] | kinds["empty"])
    return {"frames": [int(t) for t in stats["frame"][good]], "mean": [float(v) for v in stats["mean"][good]],
            "std": [float(v) for v in stats["std"][good]], "left_out": [int(t) for t in stats["frame"][~good]],
            "dtype": _majority(list(stats["dtype"])) or str(dtype)}


def _local_median(frames: np.ndarray, values: np.ndarray, t: int) -> float:
    """Median of the reference values of the ``NEIGHBOURS`` reference frames nearest to ``t`` (``t`` itself left
    out; ties: the earlier frame)."""
    others = frames != t
    f, v = frames[others], values[others]
    nearest = np.lexsort((f, np.abs(f - t)))[:NEIGHBOURS]
    return float(np.median(v[nearest]))


def outlier_z(frames, values, ref_frames, ref_values) -> np.ndarray:
    """Robust z-scores of ``values`` (of ``frames``) against a reference series: against the reference's median
    and MAD, and against the median of the reference frames nearest in time (scaled by the MAD of that residual
    over the reference), whichever is smaller in magnitude, so that both must be large for an outlier. Spreads are
    at least ``MIN_RELATIVE_SIGMA`` of the reference's median. NaN where the reference is too short."""
    x = np.asarray(values, dtype=np.float64)
    rf, rv = np.asarray(ref_frames, dtype=np.int64), np.asarray(ref_values, dtype=np.float64)
    if len(rv) < MIN_REFERENCE_FRAMES:
        return np.full(x.shape, np.nan)
    centre = float(np.median(rv))
    floor = max(MIN_RELATIVE_SIGMA * abs(centre), np.finfo(np.float64).tiny)
    z_movie = (x - centre) / max(_MAD_TO_SIGMA * float(np.median(np.abs(rv - centre))), floor)
    residual = rv - np.array([_local_median(rf, rv, t) for t in rf])
    sigma = max(_MAD_TO_SIGMA * float(np.median(np.abs(residual - np.median(residual)))), floor)
    z_local = (x - np.array([_local_median(rf, rv, int(t)) for t in frames])) / sigma
    return np.where(np.abs(z_movie) <= np.abs(z_local), z_movie, z_local)


def check_frames(rows: list[dict], ref: dict | None = None, *, abnormal_z: float = 6.0,
                 saturated_fraction: float = 0.5) -> pd.DataFrame:
    """Classify frames from their :func:`frame_stats` rows against the movie's :func:`reference` (None: no
    ``abnormal`` test; the dtype of the rows' first frame is the movie's): the table (columns ``COLUMNS``, sorted
    by frame) with ``kind`` ('ok' or the most telling of ``KINDS``), ``kinds`` (all that apply, ','-joined),
    ``reason`` (why, in words) and ``note`` (a dtype other than the movie's). Thresholds: config ``input_check``."""
    stats = _stats_table(rows)
    n = len(stats)
    flags, saturated = _frame_kinds(stats, saturated_fraction)
    good = ~(flags["non_finite"] | flags["saturated"] | flags["empty"])
    z = {c: np.full(n, np.nan) for c in ("mean", "std")}
    if ref is not None and good.any():
        frames = stats["frame"].to_numpy()[good]
        for c in z:
            z[c][good] = outlier_z(frames, stats[c].to_numpy(float)[good], ref["frames"], ref[c])
    with np.errstate(invalid="ignore"):
        flags["abnormal"] = good & ((np.abs(z["mean"]) > abnormal_z) | (np.abs(z["std"]) > abnormal_z))

    table = stats.drop(columns=["max_fraction", "dtype_max"])
    table["saturated_fraction"] = saturated
    table["z_mean"], table["z_std"] = z["mean"], z["std"]
    kinds = [[k for k in KINDS if flags[k][i]] for i in range(n)]
    table["kinds"] = [",".join(k) for k in kinds]
    table["kind"] = [k[0] if k else "ok" for k in kinds]
    table["reason"] = ["; ".join(f"{k}: {_why(k, table.iloc[i], abnormal_z)}" for k in kinds[i]) for i in range(n)]
    movie_dtype = (ref or {}).get("dtype") or (str(stats["dtype"].iloc[0]) if n else "")
    table["note"] = [f"dtype {d}, the movie's is {movie_dtype}: converted to float like the others"
                     if d != movie_dtype else "" for d in stats["dtype"]]
    return table[list(COLUMNS)]


def _why(kind: str, row: pd.Series, abnormal_z: float) -> str:
    if kind == "non_finite":
        return f"{_percent(1 - row['finite_fraction'])} of pixels NaN or infinite"
    if kind == "saturated":
        return f"{_percent(row['saturated_fraction'])} of pixels at the maximum {row['max']:g}"
    if kind == "empty":
        return "no finite pixel" if row["finite_fraction"] == 0 else f"constant frame (every pixel {row['min']:g})"
    parts = [f"{c} {row[c]:.4g} (robust z {row[f'z_{c}']:+.1f})" for c in ("mean", "std")
             if abs(row[f"z_{c}"]) > abnormal_z]
    return f"{' and '.join(parts)}, beyond ±{abnormal_z:g} against the movie and the frames around it"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def bad(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the bad frames (kind other than 'ok'), in frame order."""
    return table[table["kind"] != "ok"]


def frames_to_skip(table: pd.DataFrame, mode: str, skip_abnormal: bool = False) -> set[int]:
    """Frames whose objects are dropped: with ``mode`` 'skip' the empty, saturated and non-finite frames, and the
    abnormal ones only with ``skip_abnormal`` (a statistical outlier is often real data: the bright first frames
    of a bleaching movie); none with 'keep'."""
    if mode not in MODES:
        raise InputError(f"config key 'input_check.bad_frames' = {mode!r}: must be one of {', '.join(MODES)}")
    rows = bad(table)
    if not skip_abnormal:
        rows = rows[rows["kind"] != "abnormal"]
    return {int(t) for t in rows["frame"]} if mode == "skip" else set()


def warning_lines(table: pd.DataFrame, mode: str | None = None, skip_abnormal: bool = False) -> list[str]:
    """One line per bad frame (frame, file, why, and what is done with config ``input_check.bad_frames`` =
    ``mode``, when given) and per frame of another dtype than the movie's."""
    lines = []
    for _, row in table.iterrows():
        where = f"frame {int(row['frame'])}" + (f" ({row['file']})" if row["file"] else "")
        if row["kind"] != "ok":
            kept = mode == "skip" and row["kind"] == "abnormal" and not skip_abnormal
            action = (f"; {ACTIONS['keep']} (abnormal frames are skipped only with input_check.skip_abnormal)"
                      if kept else f"; {ACTIONS[mode]} (input_check.bad_frames = {mode})" if mode else "")
            lines.append(f"bad {where}: {row['reason']}{action}")
        if row["note"]:
            lines.append(f"{where}: {row['note']}")
    return lines


def write_check(path, table: pd.DataFrame) -> None:
    """The frame table as CSV, atomically."""
    from .atomic import atomic_path

    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")


def read_check(path) -> pd.DataFrame:
    """A frame table: CSV (:func:`write_check`) or a chunk's Parquet table (:func:`lineageflow.io.write_table`)."""
    from .io import read_table

    try:
        if str(path).endswith(".parquet"):
            table = read_table(path)[0]
        else:
            table = pd.read_csv(path, dtype={c: str for c in _TEXT}, keep_default_na=False,
                                na_values={c: ["", "nan", "NaN"] for c in COLUMNS if c not in _TEXT})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read the frame check table: {exc}") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: not a frame check table (no column {', '.join(missing)})")
    return table


def read_reference(path) -> dict | None:
    """The movie's reference stored in rule pixels_normalise's normalisation JSON (None in a file without one)."""
    try:
        with open(path) as fh:
            return json.load(fh).get("frame_check")
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: not a lineageflow normalisation file ({type(exc).__name__}: {exc})") from None


def frame_source(movie, t: int, out=None) -> str:
    """Where frame ``t`` of a :class:`lineageflow.io.Movie` is stored: its file (CTC folder) or the movie; relative
    to ``out`` when inside it (the demo's movie), so runs into different folders record the same bytes."""
    from .io import recorded_path

    files = getattr(movie, "_files", None)
    if files:
        return recorded_path(files[t], out) if out is not None else str(files[t])
    return f"{movie.source} frame {t}"


def sample_movie(read: Callable[[int], np.ndarray], n_frames: int, norm, *, channels: bool = False,
                 channel: int = 0, source: Callable[[int], str] = lambda t: "", dtype: str = "",
                 abnormal_z: float = 6.0, saturated_fraction: float = 0.5):
    """Rule pixels_normalise's pass: the frames :func:`lineageflow.normalise.movie_normalisation` samples, each read
    once, give the movie's levels and drift (the same pixels, less the sampled frames that are bad) and its
    :func:`reference`. Returns (levels, reference, the sampled frames' check table, drift). ``channel``: the
    intensity channel measured."""
    from . import normalise

    frames = normalise.sample_frames(n_frames, norm)
    samples, rows = {}, []
    for t in frames:
        image = np.asarray(read(t))
        pixels = normalise._as_channels(normalise.prepared(image, norm, channels=channels), channels)
        samples[t] = pixels[::normalise.sample_stride(pixels.shape[0], len(frames))]
        rows.append(frame_stats(image[..., channel] if channels else image, frame=t, file=source(t)))
    ref = reference(rows, saturated_fraction=saturated_fraction, dtype=dtype)
    table = check_frames(rows, ref, abnormal_z=abnormal_z, saturated_fraction=saturated_fraction)
    if not samples:
        return None, ref, table, None
    left_out = {int(t) for t in bad(table)["frame"]}
    keep = [i for i, t in enumerate(ref["frames"]) if t not in left_out]  # abnormal ones leave the reference too
    ref.update({k: [ref[k][i] for i in keep] for k in ("frames", "mean", "std")}, left_out=sorted(left_out))
    used = [t for t in frames if t not in left_out] or frames  # every sampled frame bad: levels from them all
    levels = normalise.levels_of(np.concatenate([samples[t] for t in used]), norm)
    return levels, ref, table, normalise.drift_of({t: samples[t] for t in used}, levels, norm)


def fill_non_finite(image: np.ndarray, *, channels: bool = False, fallback=0.0) -> tuple[np.ndarray, int, list]:
    """``image`` with its NaN/infinite pixels replaced, per channel, by the median of the channel's finite pixels
    (``fallback``, a number or one per channel, when there is none). Returns (image, pixels replaced, fill values);
    an image without non-finite pixels comes back as it is."""
    a = np.asarray(image)
    if a.dtype.kind not in "fc":
        return a, 0, []
    bad_px = ~np.isfinite(a)
    n_bad = int(np.count_nonzero(bad_px))
    if not n_bad:
        return a, 0, []
    a = a.astype(np.float32 if a.dtype.itemsize <= 4 else np.float64)
    planes = [(a[..., c], bad_px[..., c]) for c in range(a.shape[-1])] if channels else [(a, bad_px)]
    fallbacks = np.asarray(fallback, dtype=np.float64).reshape(-1)
    fallbacks = np.resize(fallbacks, len(planes)) if fallbacks.size else np.zeros(len(planes))
    values = []
    for (plane, mask), alt in zip(planes, fallbacks):
        finite = plane[~mask]
        value = float(np.median(finite)) if finite.size else float(alt)
        plane[mask] = value
        values.append(value)
    return a, n_bad, values

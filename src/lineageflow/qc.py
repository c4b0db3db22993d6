"""Quality control without ground truth: per-frame health of the raw movie, the pixel classifier and the objects.

``frame_qc`` measures one frame (raw intensities, the foreground probability map when there is one, the label
image); ``flag_frames`` looks at the whole movie's table and flags frames that look unreliable, with a short
reason each, so a user sees that a movie did not transfer before trusting its lineages:

- ``blank``: the frame is constant (e.g. all zeros: a dropped frame);
- ``non-finite``: NaN or infinite pixels;
- ``saturated``: more than ``saturated_fraction`` of the pixels at the integer dtype's maximum;
- ``count jump``: the object count differs from the median of the ``2·count_window`` nearest other frames by more
  than ``count_jump`` (relative), i.e. objects appeared or vanished at once;
- ``margin drop``: the mean probability margin |2p − 1| is below the movie's median − ``margin_drop_k`` · σ, with
  σ the median absolute deviation scaled to a standard deviation, and at least ``margin_min_drop`` below the
  median (so that a movie whose margin hardly varies is not flagged for a trivial dip): the classifier is unsure
  on this frame.

A movie that did not transfer as a whole (every frame equally unsure) is not a per-frame outlier: its median margin
and uncertain fraction, in ``summary``, are the numbers to compare with a movie that worked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


COLUMNS = ("frame", "n_objects", "mean_probability_margin", "uncertain_fraction", "raw_mean", "raw_std", "raw_min",
           "raw_max", "nonfinite_fraction", "saturated_fraction", "blank", "foreground_fraction")
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation


def frame_qc(raw: np.ndarray, probability: np.ndarray | None, labels: np.ndarray, *, frame: int,
             band: tuple[float, float]) -> dict:
    """One row of the QC table. ``raw``: the frame's intensities (one channel); ``probability``: the foreground
    probability map (same shape) or None when objects came from label images; ``labels``: the label image;
    ``band``: probabilities in [low, high] count as uncertain."""
    raw = np.asarray(raw)
    finite = np.isfinite(raw) if raw.dtype.kind in "fc" else np.ones(raw.shape, bool)
    values = raw[finite].astype(np.float64)
    # saturation only means something for integer data (a float camera value has no ceiling)
    saturated = float(np.mean(raw == np.iinfo(raw.dtype).max)) if raw.dtype.kind in "ui" else 0.0
    row = {"frame": int(frame), "n_objects": int(np.unique(labels[labels > 0]).size)}
    if probability is None:
        row["mean_probability_margin"] = row["uncertain_fraction"] = np.nan
    else:
        p = np.asarray(probability, dtype=np.float64)
        row["mean_probability_margin"] = float(np.nanmean(np.abs(2 * p - 1)))
        row["uncertain_fraction"] = float(np.nanmean((p >= band[0]) & (p <= band[1])))
    if values.size:
        row.update(raw_mean=float(values.mean()), raw_std=float(values.std()), raw_min=float(values.min()),
                   raw_max=float(values.max()))
    else:
        row.update(raw_mean=np.nan, raw_std=np.nan, raw_min=np.nan, raw_max=np.nan)
    row.update(nonfinite_fraction=float(1 - finite.mean()), saturated_fraction=saturated,
               blank=bool(values.size and values.min() == values.max()),
               foreground_fraction=float(np.mean(labels > 0)))
    return row


def frames_table(rows: list[dict]) -> pd.DataFrame:
    """Per-frame rows as a table with the QC columns in order, sorted by frame."""
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table.astype({"frame": "int64", "n_objects": "int64", "blank": bool}).sort_values(
        "frame", kind="stable").reset_index(drop=True)


def neighbour_median(values: np.ndarray, window: int) -> np.ndarray:
    """Per entry, the median of the ``2·window`` nearest other entries (the window slides inward at the ends, so
    the first and last frames are compared with as many neighbours as the others); NaN without neighbours."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    k = min(2 * window, n - 1)  # neighbours per entry
    if k < 1:
        return np.full(n, np.nan)
    t = np.arange(n)
    start = np.clip(t - (k + 1) // 2, 0, n - k - 1)
    idx = start[:, None] + np.arange(k + 1)
    others = idx[idx != t[:, None]].reshape(n, k)  # each window holds its own entry exactly once
    return np.median(values[others], axis=1)


def _reference_median(frames: np.ndarray, values: np.ndarray, reference: np.ndarray, window: int) -> np.ndarray:
    """Per frame, the median of the values of the ``2·window`` nearest reference frames other than itself (the
    reference frames among themselves as :func:`neighbour_median`; ties: the earlier frame); NaN without any."""
    out = np.full(len(frames), np.nan)
    ref_frames, ref_values = frames[reference], values[reference]
    out[reference] = neighbour_median(ref_values, window)
    for i in np.flatnonzero(~reference):
        order = np.lexsort((ref_frames, np.abs(ref_frames - frames[i])))[:2 * window]
        if order.size:
            out[i] = np.median(ref_values[order])
    return out


def flag_frames(table: pd.DataFrame, *, count_jump: float, count_window: int, margin_drop_k: float,
                margin_min_drop: float, saturated_fraction: float, exclude=(), skipped=()) -> pd.DataFrame:
    """The table with a ``flags`` column: '; '-joined reasons per unreliable frame, '' when the frame looks fine.
    The thresholds are config section ``qc`` (defaults in config/schema.yaml). Frames in ``exclude`` (bad raw
    frames, lineageflow.frame_check) are left out of the references that counts and margins are compared with, and
    frames in ``skipped`` (their objects dropped on purpose) are not flagged for a count jump."""
    table = table.sort_values("frame", kind="stable").reset_index(drop=True)
    frames = table["frame"].to_numpy()
    reference = ~np.isin(frames, list(exclude))
    reasons = [[] for _ in range(len(table))]

    def add(mask, text):
        for i in np.flatnonzero(mask):
            reasons[i].append(text(i))

    add(table["blank"].to_numpy(bool), lambda i: "blank")
    nonfinite = table["nonfinite_fraction"].to_numpy(float)
    add(nonfinite > 0, lambda i: f"non-finite: {_percent(nonfinite[i])} of pixels")
    saturated = table["saturated_fraction"].to_numpy(float)
    add(saturated > saturated_fraction, lambda i: f"saturated: {_percent(saturated[i])} of pixels at the maximum")

    count = table["n_objects"].to_numpy(float)
    if reference.all():
        around = neighbour_median(count, count_window)
    else:
        around = _reference_median(frames, count, reference, count_window)
    with np.errstate(invalid="ignore"):
        jump = np.abs(count - around) / np.maximum(around, 1)  # max(…, 1): objects appearing in an empty movie
    add((jump > count_jump) & ~np.isin(frames, list(skipped)),
        lambda i: f"count jump: {int(count[i])} objects, {around[i]:g} in the frames around")

    margin = table["mean_probability_margin"].to_numpy(float)
    known = np.isfinite(margin)
    ref = known & reference
    if ref.sum() >= 3:  # a median and a spread need a few frames
        median = float(np.median(margin[ref]))
        sigma = _MAD_TO_SIGMA * float(np.median(np.abs(margin[ref] - median)))
        floor = median - max(margin_drop_k * sigma, margin_min_drop)
        with np.errstate(invalid="ignore"):
            add(known & (margin < floor),
                lambda i: f"margin drop: {margin[i]:.3f} below {floor:.3f} (movie median {median:.3f})")
    table["flags"] = ["; ".join(r) for r in reasons]
    return table


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def flagged(table: pd.DataFrame) -> list[dict]:
    """The flagged frames of a flagged table, as [{"frame", "flags"}] in frame order."""
    bad = table[table["flags"] != ""]
    return [{"frame": int(t), "flags": str(f)} for t, f in zip(bad["frame"], bad["flags"])]


def summary(table: pd.DataFrame, settings: dict) -> dict:
    """What summary.json holds: frame count, the flagged frames with reasons, the movie's median object count,
    margin and uncertain fraction (None without probabilities), and the settings that flagged them."""
    bad = flagged(table)

    def median(column):
        values = table[column].to_numpy(float)
        return float(np.median(values[np.isfinite(values)])) if np.isfinite(values).any() else None

    return {"n_frames": int(len(table)), "n_flagged": len(bad), "flagged": bad, "settings": dict(settings),
            **{f"median_{c}": median(c) for c in ("n_objects", "mean_probability_margin", "uncertain_fraction")}}


def add_input_check(table: pd.DataFrame, check: pd.DataFrame, skipped: set[int]) -> pd.DataFrame:
    """The flagged table (:func:`flag_frames`) with the bad frames of the input check (lineageflow.frame_check)
    flagged too: 'input check: KINDS (skipped|kept)'."""
    table = table.copy()
    flags = dict(zip(table["frame"].astype(int), table["flags"]))
    for t, kinds in zip(check["frame"].astype(int), check["kinds"]):
        if kinds and t in flags:
            text = f"input check: {kinds.replace(',', ', ')} ({'skipped' if t in skipped else 'kept'})"
            flags[t] = f"{flags[t]}; {text}" if flags[t] else text
    table["flags"] = [flags[int(t)] for t in table["frame"]]
    return table


def input_check_summary(check: pd.DataFrame, mode: str, skipped: set[int]) -> dict:
    """What summary.json holds of the input check: the handling (config input_check.bad_frames), every bad frame
    (frame, file, kind, kinds, reason, action) and every frame of another dtype than the movie's."""
    bad = check[check["kind"] != "ok"]
    frames = [{"frame": int(r.frame), "file": str(r.file), "kind": str(r.kind), "kinds": str(r.kinds),
               "reason": str(r.reason), "action": "skipped" if int(r.frame) in skipped else "kept"}
              for r in bad.itertuples()]
    notes = [{"frame": int(r.frame), "file": str(r.file), "note": str(r.note)} for r in check.itertuples() if r.note]
    return {"bad_frames": mode, "n_bad": len(frames), "n_skipped": sum(f["action"] == "skipped" for f in frames),
            "frames": frames, "dtype_notes": notes}

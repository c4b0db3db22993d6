"""Deterministic intensity shifts of a movie: stand-ins for "the next movie of the experiment".

A shift changes how a movie looks, never what is in it, so the ground truth of the original still scores it:

* ``contrast`` s: object–background contrast scaled by s around the background level, with Gaussian noise added
  so that the noise level stays the same (contrast-to-noise falls by s);
* ``bleach`` e: contrast falling linearly over time from 1 at the first frame to e at the last (bleaching);
* ``gain`` g and ``offset`` o: I·g + o (a dimmer or brighter acquisition);
* results are rounded and clipped to the input's integer dtype, as a camera would.

The background level b and noise σ are robust statistics of the movie (median, 1.4826·MAD over a sample of
frames): background dominates the pixels of a nucleus movie. The shifted copies are benchmark and test inputs;
the suite :data:`SUITE` is what the transfer benchmark reports.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from lineageflow.errors import InputError
from lineageflow.io import list_frames


@dataclass(frozen=True)
class Shift:
    name: str
    contrast: float = 1.0
    bleach: float = 1.0  # contrast reached at the last frame (1 = no bleaching)
    gain: float = 1.0
    offset: float = 0.0  # in units of the movie's dynamic range (high − low level)

    def contrast_at(self, t: int, n_frames: int) -> float:
        ramp = 1.0 + (self.bleach - 1.0) * (t / (n_frames - 1) if n_frames > 1 else 0.0)
        return self.contrast * ramp


SUITE = (
    Shift("contrast0.5", contrast=0.5),
    Shift("contrast0.35", contrast=0.35),
    Shift("gain0.4", gain=0.4),
    Shift("offset", offset=0.25),
    Shift("bleach", bleach=0.4),
)


def by_name(name: str) -> Shift:
    """A shift of :data:`SUITE`, or any ``contrast<s>``, ``bleach<e>``, ``gain<g>`` or ``offset<o>`` (e.g.
    ``contrast0.15``)."""
    for s in SUITE:
        if s.name == name:
            return s
    for kind in ("contrast", "bleach", "gain", "offset"):
        if name.startswith(kind):
            try:
                value = float(name[len(kind):])
            except ValueError:
                break
            if math.isfinite(value) and (value > 0 or kind == "offset"):
                return Shift(name, **{kind: value})
    raise InputError(f"unknown shift {name!r}; known: {', '.join(s.name for s in SUITE)}, or a kind "
                     "(contrast, bleach, gain, offset) followed by its value, e.g. contrast0.15")


@dataclass(frozen=True)
class MovieStats:
    background: float
    noise: float
    low: float  # 1st percentile
    high: float  # 99.8th percentile


def movie_stats(frames: list[np.ndarray]) -> MovieStats:
    """Background level, noise and dynamic range of a sample of frames."""
    px = np.concatenate([np.asarray(f, np.float64).ravel()[:: max(1, f.size // 500_000)] for f in frames])
    b = float(np.median(px))
    lo, hi = np.percentile(px, [1.0, 99.8])
    return MovieStats(b, float(1.4826 * np.median(np.abs(px - b))), float(lo), float(hi))


def shift_frame(image: np.ndarray, shift: Shift, stats: MovieStats, t: int, n_frames: int, seed: int = 0) -> np.ndarray:
    """One frame under ``shift`` (same dtype and shape); deterministic from (seed, t)."""
    img = np.asarray(image)
    x = img.astype(np.float64)
    s = shift.contrast_at(t, n_frames)
    if s != 1.0:
        x = stats.background + s * (x - stats.background)
        top_up = stats.noise * math.sqrt(max(0.0, 1.0 - s * s))  # keeps the total noise std at σ
        if top_up > 0:
            x += np.random.default_rng([seed, t]).standard_normal(x.shape) * top_up
    x = x * shift.gain + shift.offset * (stats.high - stats.low)
    if img.dtype.kind in "ui":
        info = np.iinfo(img.dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(img.dtype)
    return x.astype(img.dtype)


def write_shifted_sequence(seq_dir: str | Path, out_dir: str | Path, shift: Shift, *, seed: int = 0,
                           gt_dir: str | Path | None = None) -> Path:
    """Write ``seq_dir``'s tTTT.tif frames under ``shift`` to ``out_dir`` (same names), and link its ground truth
    (``gt_dir``, default the NN_GT sibling) beside it as ``<out_dir>_GT`` so the copy is a CTC sequence."""
    seq_dir, out_dir = Path(seq_dir), Path(out_dir)
    files = list_frames(seq_dir, what="frames to shift")
    sample = [tifffile.imread(files[i]) for i in sorted({0, len(files) // 2, len(files) - 1})]
    stats = movie_stats(sample)
    out_dir.mkdir(parents=True, exist_ok=True)
    for t, f in enumerate(files):
        tifffile.imwrite(out_dir / f.name, shift_frame(tifffile.imread(f), shift, stats, t, len(files), seed))
    gt = Path(gt_dir) if gt_dir else seq_dir.parent / f"{seq_dir.name}_GT"
    link = out_dir.parent / f"{out_dir.name}_GT"
    if gt.is_dir() and not link.exists():
        try:
            link.symlink_to(gt.resolve(), target_is_directory=True)
        except OSError:  # no symlinks here: copy (ground truth is small next to the movie)
            shutil.copytree(gt, link)
    return out_dir

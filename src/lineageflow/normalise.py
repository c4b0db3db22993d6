"""Intensity normalisation before the filter bank: robust percentiles per movie or per frame.

A forest trained on one movie's absolute intensities does not carry over to a dimmer or brighter movie. Mapping
each movie's low/high percentiles (default 1st/99.8th) to 0/1 before the features makes the pixel classifier
invariant to gain and offset (its filters are linear, its splits are thresholds). ``mode``:

* ``movie`` (default): one pair of levels per channel from a sample of frames of the movie being processed;
* ``frame``: levels per frame, for movies whose brightness drifts (bleaching);
* ``none``: raw intensities, as ilastik does.

``background`` (a radius in pixels, or 'auto': a quarter of the field's shorter side) first flattens uneven
illumination: a smooth background (the grey opening, with a disk of that radius, of the frame's block means,
smoothed) is subtracted around its median, so intensities keep their
scale but a bright corner of the field no longer looks like a dim nucleus. Variation within 2 % of the frame's
level span is left alone, so an evenly lit movie is not changed at all. The levels are taken from flattened frames.

``drift`` (mode 'movie') follows a movie whose brightness falls or rises over time (bleaching) without frame mode's
per-frame stretching: the sampled frames' level spans, relative to the movie's and smoothed over time, give a trend;
the part of it beyond ±``drift`` (as a factor 1 + drift) scales the movie's span frame by frame (:class:`Drift`).
Brightness that varies with a frame's content stays within it, and such a movie keeps its levels exactly.

The settings are stored in the pixel classifier; the levels always come from the movie the classifier is applied
to (at training time: the training movie), through the same functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable

import numpy as np
from scipy import ndimage

from lineageflow.errors import ConfigError

MODES = ("none", "movie", "frame")
_MAX_SAMPLES = 1 << 22  # pixels pooled per channel for movie percentiles (a fixed stride, so deterministic)


@dataclass(frozen=True)
class Normalisation:
    mode: str = "movie"
    low: float = 1.0  # percentile mapped to 0
    high: float = 99.8  # percentile mapped to 1
    sample_frames: int = 20  # frames (evenly spaced) pooled for the movie's levels
    background: float | str = 0.0  # radius (pixels) of the illumination flattening; 0 = off; "auto": field / 4
    drift: float | str = "off"  # brightness drift (bleaching) followed beyond this fraction of the movie's span

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"config key 'pixels.normalise.mode' = {self.mode!r}: must be one of {', '.join(MODES)}")
        if not (0 <= self.low < self.high <= 100):
            raise ConfigError(f"config keys 'pixels.normalise.low/high' = {self.low}/{self.high}: "
                              "need 0 <= low < high <= 100 (percentiles)")
        if int(self.sample_frames) < 1:
            raise ConfigError(f"config key 'pixels.normalise.sample_frames' = {self.sample_frames}: must be >= 1")
        ok = self.background == "auto" or (isinstance(self.background, (int, float)) and not isinstance(
            self.background, bool) and np.isfinite(self.background) and self.background >= 0)
        if not ok:
            raise ConfigError(f"config key 'pixels.normalise.background' = {self.background!r}: must be 'auto' or "
                              "a number >= 0 (a radius in pixels; 0 = no flattening)")
        ok = self.drift == "off" or (isinstance(self.drift, (int, float)) and not isinstance(self.drift, bool)
                                     and np.isfinite(self.drift) and self.drift >= 0)
        if not ok:
            raise ConfigError(f"config key 'pixels.normalise.drift' = {self.drift!r}: must be 'off' or a number >= 0 "
                              "(the brightness change, as a fraction of the movie's level span, left alone)")

    @classmethod
    def from_config(cls, section: dict | None) -> "Normalisation":
        section = section or {}
        keys = ("mode", "low", "high", "sample_frames", "background", "drift")
        return cls(**{k: section[k] for k in keys if k in section})

    def to_dict(self) -> dict:
        return asdict(self)

    def per_frame(self) -> "Normalisation":
        """The same settings with levels per frame (for augmented copies, each normalised by its own levels)."""
        return replace(self, mode="frame") if self.mode != "none" else self


_KEEP = 0.02  # illumination variation left alone, as a fraction of the frame's high − low level span


def flatten(image: np.ndarray, radius: float, *, low: float = 50.0, high: float = 99.8,
            channels: bool = False) -> np.ndarray:
    """``image`` (float32) with its uneven illumination flattened; laterally, per z-slice.

    The background: block means (blocks of ~radius/4 pixels, so noise averages out), their grey opening with a
    disk of ``radius`` (removes everything narrower than the disk: nuclei), a Gaussian of half that radius, and a
    linear upsampling back to the frame. Its deviation from its median, less ``_KEEP`` of the frame's span between
    the ``low`` and ``high`` percentiles (soft threshold), is subtracted: an evenly lit movie is left exactly as it
    is, and intensities keep their scale. ``radius`` 0 returns the image as float32."""
    img = np.asarray(image, dtype=np.float32)
    if radius <= 0:
        return img
    if channels:
        return np.stack([flatten(img[..., c], radius, low=low, high=high) for c in range(img.shape[-1])], axis=-1)
    if img.ndim < 2:
        raise ValueError(f"flatten needs a 2D or 3D image, got shape {img.shape}")
    k = max(1, int(radius // 4))
    lead = img.ndim - 2
    padded = np.pad(img, [(0, 0)] * lead + [(0, (-s) % k) for s in img.shape[-2:]], mode="edge")
    ny, nx = padded.shape[-2] // k, padded.shape[-1] // k
    small = padded.reshape(*padded.shape[:-2], ny, k, nx, k).mean(axis=(-3, -1), dtype=np.float64)
    r = max(1, int(round(radius / k)))
    yy, xx = np.ogrid[-r:r + 1, -r:r + 1]
    disk = (yy * yy + xx * xx <= r * r).reshape((1,) * lead + (2 * r + 1, 2 * r + 1))
    bg = ndimage.grey_opening(small, footprint=disk, mode="reflect")
    bg = ndimage.gaussian_filter(bg, sigma=(0,) * lead + (r / 2, r / 2), mode="reflect")
    bg -= np.median(bg)
    sample = img.ravel()[:: max(1, img.size // _MAX_SAMPLES)]
    lo, hi = np.percentile(sample[np.isfinite(sample)], [low, high]) if np.isfinite(sample).any() else (0.0, 0.0)
    bg = np.sign(bg) * np.maximum(np.abs(bg) - _KEEP * max(float(hi - lo), 0.0), 0.0)
    if not bg.any():
        return img
    bg = ndimage.zoom(bg, (1,) * lead + (k, k), order=1, mode="nearest", grid_mode=True)
    return (img - bg[(...,) + tuple(slice(0, s) for s in img.shape[-2:])]).astype(np.float32)


def background_radius(norm: "Normalisation", spatial_shape) -> float:
    """The flattening radius in pixels for frames of ``spatial_shape``: 'auto' is a quarter of the shorter lateral
    side (illumination varies over the field, nuclei are much smaller than it)."""
    if norm.background == "auto":
        return min(spatial_shape[-2:]) / 4 if len(spatial_shape) >= 2 else 0.0
    return float(norm.background)


def prepared(image: np.ndarray, norm: "Normalisation", *, channels: bool = False) -> np.ndarray:
    """What the levels are taken from and mapped on: the frame, flattened when ``norm.background`` is set."""
    image = np.asarray(image)
    radius = background_radius(norm, image.shape[:-1] if channels else image.shape)
    if radius <= 0:
        return image
    return flatten(image, radius, low=norm.low, high=norm.high, channels=channels)


def _as_channels(image: np.ndarray, channels: bool) -> np.ndarray:
    """(N, C) float view of an image's pixels."""
    a = np.asarray(image)
    return a.reshape(-1, a.shape[-1]) if channels else a.reshape(-1, 1)


def levels_of(pixels: np.ndarray, norm: Normalisation) -> np.ndarray:
    """(2, C) low/high levels of an (N, C) pixel sample; non-finite pixels are ignored."""
    pixels = np.asarray(pixels, dtype=np.float64)
    out = np.empty((2, pixels.shape[1]), np.float64)
    for c in range(pixels.shape[1]):
        col = pixels[:, c]
        col = col[np.isfinite(col)]
        out[:, c] = np.percentile(col, [norm.low, norm.high]) if col.size else (0.0, 1.0)
    return out


def sample_frames(n_frames: int, norm: Normalisation) -> list[int]:
    """The frames (up to ``sample_frames``, evenly spaced) pooled for the movie's levels; none in mode 'none'."""
    if norm.mode == "none" or n_frames < 1:
        return []
    return sorted(set(np.linspace(0, n_frames - 1, min(n_frames, norm.sample_frames)).round().astype(int).tolist()))


def sample_stride(frame_pixels: int, n_sampled: int) -> int:
    """Every how many pixels of a sampled frame are pooled (a fixed stride, so the levels are deterministic)."""
    return max(1, (frame_pixels * n_sampled) // _MAX_SAMPLES)


def movie_normalisation(read: Callable[[int], np.ndarray], n_frames: int, norm: Normalisation, *,
                        channels: bool = False) -> tuple[np.ndarray | None, "Drift | None"]:
    """The movie's (2, C) levels from up to ``sample_frames`` evenly spaced frames (None in mode 'none') and its
    brightness :class:`Drift` beyond ``norm.drift`` (None when there is none, or it is off).

    (Mode 'frame' normalises pixels per frame but still records the movie's levels for the object features.)
    Rule pixels_normalise pools the same pixels in its pass over every frame, leaving bad frames out
    (:func:`lineageflow.frame_check.scan`)."""
    if norm.mode == "none":
        return None, None
    frames = sample_frames(n_frames, norm)
    first = _as_channels(prepared(read(frames[0]), norm, channels=channels), channels)
    stride = sample_stride(first.shape[0], len(frames))
    samples = {frames[0]: first[::stride]}
    for t in frames[1:]:
        samples[t] = _as_channels(prepared(read(t), norm, channels=channels), channels)[::stride]
    levels = levels_of(np.concatenate(list(samples.values())), norm)
    return levels, drift_of(samples, levels, norm)


def movie_levels(read: Callable[[int], np.ndarray], n_frames: int, norm: Normalisation, *,
                 channels: bool = False) -> np.ndarray | None:
    """The movie's (2, C) levels (:func:`movie_normalisation` without the drift); None in mode 'none'."""
    return movie_normalisation(read, n_frames, norm, channels=channels)[0]


_DRIFT_WINDOW = 5  # sampled frames in the running median of the brightness trend (one bright frame is not a trend)


@dataclass(frozen=True)
class Drift:
    """A movie's brightness trend beyond ``Normalisation.drift``: per sampled frame and channel, the factor on the
    movie's level span (high − low) that the frame's levels follow; frames between samples are interpolated
    log-linearly, frames outside take the nearest sample's."""

    frames: tuple[int, ...]
    scale: tuple[tuple[float, ...], ...]  # (frames, channels)

    def levels_at(self, levels: np.ndarray, t: int) -> np.ndarray:
        lv = np.asarray(levels, dtype=np.float64)
        logs = np.log(np.asarray(self.scale, dtype=np.float64))
        factor = np.exp([np.interp(t, self.frames, logs[:, c]) for c in range(logs.shape[1])])
        return np.stack([lv[0], lv[0] + factor * (lv[1] - lv[0])])

    def to_dict(self) -> dict:
        return {"frames": list(self.frames), "scale": [list(s) for s in self.scale]}


def drift_of(samples: dict[int, np.ndarray], levels: np.ndarray | None, norm: Normalisation) -> Drift | None:
    """The brightness drift of a movie from its sampled frames' pixels ({frame: (N, C)}) and its pooled levels.

    Each sampled frame's level span relative to the movie's, in log, is smoothed by a running median over
    ``_DRIFT_WINDOW`` samples; what lies within ±log(1 + ``norm.drift``) is left alone (soft threshold), so a movie
    whose brightness only varies with its content keeps its movie levels exactly and a bleaching movie's late
    frames are not normalised as if they were as bright as its first. Only in mode 'movie'."""
    if norm.mode != "movie" or norm.drift == "off" or levels is None or len(samples) < 2:
        return None
    frames = sorted(samples)
    lv = np.asarray(levels, dtype=np.float64)
    per = np.array([levels_of(samples[t], norm) for t in frames])  # (F, 2, C)
    spans, span = per[:, 1] - per[:, 0], lv[1] - lv[0]
    ok = (spans > 0) & (span > 0)
    ratio = np.log(np.where(ok, spans, 1.0) / np.where(span > 0, span, 1.0))
    trend = ndimage.median_filter(np.where(ok, ratio, 0.0), size=(_DRIFT_WINDOW, 1), mode="nearest")
    excess = np.sign(trend) * np.maximum(np.abs(trend) - np.log1p(float(norm.drift)), 0.0)
    if not excess.any():
        return None
    return Drift(tuple(int(t) for t in frames), tuple(tuple(float(v) for v in row) for row in np.exp(excess)))


def levels_at(levels: np.ndarray | None, drift: Drift | None, t: int) -> np.ndarray | None:
    """The levels frame ``t`` is normalised with: the movie's, following its drift when it has one."""
    return levels if drift is None or levels is None else drift.levels_at(levels, t)


def apply(image: np.ndarray, norm: Normalisation, levels: np.ndarray | None = None, *,
          channels: bool = False) -> np.ndarray:
    """``image`` as float32 with its low level at 0 and high level at 1 (per channel).

    ``levels`` (2, C) are the movie's (mode 'movie'); in mode 'frame' they come from the image itself; mode 'none'
    only converts to float32. A channel whose levels coincide (a constant frame) is shifted, not scaled.
    """
    if norm.mode == "none":
        return np.asarray(image, dtype=np.float32)
    img = np.asarray(prepared(image, norm, channels=channels), dtype=np.float32)
    if norm.mode == "frame" or levels is None:
        if norm.mode == "movie":
            raise ValueError("mode 'movie' needs the movie's levels (normalise.movie_levels)")
        levels = levels_of(_as_channels(img, channels), norm)
    levels = np.asarray(levels, dtype=np.float64)
    n_ch = img.shape[-1] if channels else 1
    if levels.shape != (2, n_ch):
        raise ValueError(f"normalisation levels have shape {levels.shape}, expected (2, {n_ch})")
    lo = levels[0]
    span = levels[1] - levels[0]
    scale = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 1.0)
    # channel-last images broadcast the (C,) levels over their last axis
    lo, scale = (lo, scale) if channels else (lo[0], scale[0])
    return (img - np.asarray(lo, np.float32)) * np.asarray(scale, np.float32)


def levels_for_frame(image: np.ndarray, norm: Normalisation, levels: np.ndarray | None, *,
                     channels: bool = False) -> np.ndarray:
    """The (2, C) levels :func:`apply` uses for this frame ((0, 1) per channel in mode 'none')."""
    n_ch = np.asarray(image).shape[-1] if channels else 1
    if norm.mode == "none":
        return np.array([[0.0] * n_ch, [1.0] * n_ch])
    if norm.mode == "frame":
        return levels_of(_as_channels(prepared(image, norm, channels=channels), channels), norm)
    return np.asarray(levels, dtype=np.float64)


def write_levels(path, norm: Normalisation, levels: np.ndarray | None, *, source: str,
                 frame_check: dict | None = None, drift: Drift | None = None) -> None:
    """The movie's normalisation (settings, levels and drift) as JSON, atomically; ``frame_check``: the movie's
    reference for the bad-frame check (lineageflow.frame_check.reference), stored beside them."""
    import json

    from lineageflow.atomic import atomic_path

    doc = {"normalisation": norm.to_dict(), "levels": None if levels is None else np.asarray(levels).tolist(),
           "source": source, "drift": None if drift is None else drift.to_dict()}
    if frame_check is not None:
        doc["frame_check"] = frame_check
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.write("\n")


def read_levels(path) -> tuple[Normalisation, np.ndarray | None]:
    import json

    from lineageflow.errors import InputError

    from lineageflow.errors import LineageflowError

    try:
        with open(path) as fh:
            doc = json.load(fh)
        norm = Normalisation(**doc["normalisation"])
        levels = None if doc["levels"] is None else np.asarray(doc["levels"], dtype=np.float64)
        if levels is not None and (levels.ndim != 2 or levels.shape[0] != 2):
            raise ValueError(f"levels have shape {levels.shape}, expected (2, channels)")
    except (OSError, ValueError, KeyError, TypeError, LineageflowError) as exc:
        raise InputError(f"{path}: not a lineageflow normalisation file ({type(exc).__name__}: {exc})") from None
    return norm, levels


def read_drift(path) -> Drift | None:
    """The brightness drift :func:`write_levels` stored (None when the movie has none)."""
    import json

    from lineageflow.errors import InputError

    with open(path) as fh:
        doc = json.load(fh).get("drift")
    if doc is None:
        return None
    try:
        drift = Drift(tuple(int(t) for t in doc["frames"]), tuple(tuple(float(v) for v in r) for r in doc["scale"]))
        if len(drift.frames) != len(drift.scale) or not drift.frames or min(map(min, drift.scale)) <= 0:
            raise ValueError("frames and positive scales must pair up")
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: bad 'drift' entry ({type(exc).__name__}: {exc})") from None
    return drift


def intensity_levels(norm: Normalisation, levels: np.ndarray | None, channel: int = 0) -> tuple[float, float] | None:
    """(low, high) of the intensity channel that object features measure; None when intensities stay raw.

    In mode 'frame' the pixel classifier uses per-frame levels, while object features keep the movie's (the object
    classifiers compare objects across frames), so the movie's levels are needed here in both modes."""
    if norm.mode == "none" or levels is None:
        return None
    levels = np.asarray(levels)
    c = channel if levels.shape[1] > 1 else 0
    return float(levels[0, c]), float(levels[1, c])

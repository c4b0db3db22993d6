"""Headless equivalent of ilastik's thresholding applet: probabilities -> label image.

Pipeline per frame (as in ilastik's "Threshold and Size Filter" applet):
pick one probability channel -> Gaussian smoothing (per-axis sigma, in pixels) -> threshold
(``simple``: p > threshold; ``hysteresis``: ilastik's two-level threshold, cores p > high grown into p > low)
-> connected components -> size filter -> consecutive labels 1..n.

Connectivity is *face* connectivity (4-neighbourhood in 2D, 6 in 3D): ilastik labels with vigra's
``labelImageWithBackground`` / ``labelVolumeWithBackground`` whose default neighbourhood is 4 / 6.
Labels are numbered in raster order (C order of the first voxel), so results are deterministic.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import apply_hysteresis_threshold

from lineageflow.errors import ConfigError, InputError

__all__ = [
    "EmptyFrameWarning",
    "METHODS",
    "relabel_segmentation",
    "sigma_pixels",
    "split_touching",
    "threshold_frame",
]

METHODS = ("simple", "hysteresis")
# Probabilities slightly outside [0, 1] (float rounding in exporters) are accepted and clipped.
RANGE_TOLERANCE = 1e-3


class EmptyFrameWarning(UserWarning):
    """A frame has no object after thresholding / size filtering (the caller writes an empty table)."""


def _where(source: str) -> str:
    return f"{source}: " if source else ""


def sigma_pixels(sigma_physical: float | Sequence[float], voxel_size: Sequence[float]) -> tuple[float, ...]:
    """Convert a smoothing sigma in physical units (scalar or per axis) to pixels per axis."""
    vs = np.asarray(voxel_size, dtype=float)
    if vs.ndim != 1 or vs.size == 0 or not np.all(np.isfinite(vs)) or np.any(vs <= 0):
        raise ConfigError(f"voxel_size must be positive numbers, one per spatial axis; got {voxel_size!r}")
    sig = np.asarray(sigma_physical, dtype=float)
    if sig.ndim == 0:
        sig = np.full(vs.shape, float(sig))
    if sig.shape != vs.shape:
        raise ConfigError(
            f"objects.sigma has {sig.size} values but voxel_size has {vs.size} axes; give one sigma per axis or a scalar"
        )
    if not np.all(np.isfinite(sig)) or np.any(sig < 0):
        raise ConfigError(f"objects.sigma must be >= 0; got {sigma_physical!r}")
    return tuple(float(s) for s in sig / vs)


def _check_params(method, threshold, low, high, min_size, max_size, max_foreground_fraction) -> None:
    if method not in METHODS:
        raise ConfigError(f"objects.method must be one of {', '.join(METHODS)}; got {method!r}")
    for name, value in (("objects.threshold", threshold), ("objects.low", low), ("objects.high", high)):
        if method == "simple" and name != "objects.threshold":
            continue
        if method == "hysteresis" and name == "objects.threshold":
            continue
        if not isinstance(value, (int, float, np.number)) or not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"{name} must be a number in [0, 1]; got {value!r}")
    if method == "hysteresis" and low > high:
        raise ConfigError(f"objects.low ({low}) must not exceed objects.high ({high})")
    _check_sizes(min_size, max_size)
    if not 0.0 < float(max_foreground_fraction) <= 1.0:
        raise ConfigError(f"objects.max_foreground_fraction must be in (0, 1]; got {max_foreground_fraction!r}")


def _check_sizes(min_size, max_size) -> None:
    if not isinstance(min_size, (int, np.integer)) or isinstance(min_size, bool) or min_size < 0:
        raise ConfigError(f"objects.min_size must be an integer >= 0 (pixels); got {min_size!r}")
    if max_size is not None:
        if not isinstance(max_size, (int, np.integer)) or isinstance(max_size, bool) or max_size < 1:
            raise ConfigError(f"objects.max_size must be a positive integer (pixels) or null; got {max_size!r}")
        if max_size < min_size:
            raise ConfigError(f"objects.max_size ({max_size}) is smaller than objects.min_size ({min_size})")


def _split_channel(probs: np.ndarray, channel: int, ndim: int | None, sigma, source: str) -> np.ndarray:
    """Return the chosen channel as a spatial array (2D or 3D)."""
    if ndim is None:
        if sigma is not None and not np.isscalar(sigma):
            ndim = len(sigma)
        elif probs.ndim == 2:
            ndim = 2
        elif probs.ndim == 4:
            ndim = 3
        elif probs.ndim == 3:
            # (y, x, K) with a few classes vs (z, y, x): x is never this small in practice.
            ndim = 2 if probs.shape[-1] <= 16 else 3
        else:
            ndim = -1
    if ndim not in (2, 3) or probs.ndim not in (ndim, ndim + 1):
        raise InputError(
            f"{_where(source)}probabilities have shape {probs.shape}; expected (y, x[, K]) or (z, y, x[, K])"
            + (f" for {ndim}D data" if ndim in (2, 3) else "")
        )
    n_channels = probs.shape[-1] if probs.ndim == ndim + 1 else 1
    if not isinstance(channel, (int, np.integer)) or isinstance(channel, bool) or not 0 <= channel < n_channels:
        raise InputError(
            f"{_where(source)}objects.channel = {channel!r} is out of range: the probabilities have "
            f"{n_channels} channel(s) (valid: 0..{n_channels - 1})"
        )
    return probs[..., channel] if probs.ndim == ndim + 1 else probs


def _as_probability(p: np.ndarray, source: str) -> np.ndarray:
    """Validate one probability channel and return it as float32 in [0, 1]."""
    if p.dtype == np.uint8:
        # ilastik's export option "renormalize [0, 1] -> [0, 255]" as unsigned 8-bit.
        return p.astype(np.float32) / np.float32(255.0)
    if p.dtype.kind != "f":
        raise InputError(
            f"{_where(source)}probabilities have dtype {p.dtype}; expected float in [0, 1] (or uint8 0..255). "
            "A label image should be given as a segmentation, not as probabilities"
        )
    p = np.asarray(p, dtype=np.float32)
    bad = p.size - int(np.count_nonzero(np.isfinite(p)))
    if bad:
        raise InputError(f"{_where(source)}probabilities contain NaN/inf at {bad} voxels")
    lo, hi = float(p.min()), float(p.max())
    if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        n_out = int(np.count_nonzero((p < -RANGE_TOLERANCE) | (p > 1.0 + RANGE_TOLERANCE)))
        raise InputError(
            f"{_where(source)}probabilities must lie in [0, 1] but range from {lo:g} to {hi:g} "
            f"({n_out} voxels outside) — is this a raw image or an unnormalised export?"
        )
    if lo < 0.0 or hi > 1.0:
        p = np.clip(p, 0.0, 1.0)
    return p


def _size_filter_relabel(cc: np.ndarray, n: int, min_size: int, max_size: int | None) -> tuple[np.ndarray, int]:
    """Drop components with size < min_size or > max_size; renumber the rest 1..m keeping their order."""
    sizes = np.bincount(cc.ravel(), minlength=n + 1)
    keep = sizes >= min_size
    if max_size is not None:
        keep &= sizes <= max_size
    keep[0] = False
    lut = np.zeros(n + 1, dtype=np.uint32)
    m = int(keep.sum())
    lut[keep] = np.arange(1, m + 1, dtype=np.uint32)
    return lut[cc], m


def threshold_frame(
    probs: np.ndarray,
    *,
    channel: int = 0,
    method: str = "simple",
    threshold: float = 0.5,
    low: float = 0.4,
    high: float = 0.7,
    sigma: float | Sequence[float] | None = None,
    min_size: int = 10,
    max_size: int | None = None,
    max_foreground_fraction: float = 0.95,
    ndim: int | None = None,
    source: str = "",
    split: float = 0.0,
    voxel_size: Sequence[float] | None = None,
) -> np.ndarray:
    """Threshold one frame of probabilities into a uint32 label image (0 = background, objects 1..n).

    ``probs``: spatial (y, x) / (z, y, x), optionally with a trailing class axis K (ilastik layout).
    ``ndim`` (2 or 3) says how many axes are spatial; pass it — if omitted it is taken from ``sigma``'s
    length, else guessed (a 3-axis array whose last axis is <= 16 is read as (y, x, K)).
    ``sigma``: Gaussian sigma in pixels per spatial axis (scalar = all axes; 0 = no smoothing on that
    axis; default 1.0 on every axis as in ilastik); convert physical sigmas with :func:`sigma_pixels`.
    ``min_size``/``max_size``: object size limits in pixels, both inclusive (ilastik's size filter).
    Hysteresis keeps connected regions of p > low that contain at least one voxel with p > high.
    ``split`` > 0 splits touching objects (:func:`split_touching` with that ratio; distances in ``voxel_size``).
    Raises InputError for bad data, ConfigError for bad parameters; warns EmptyFrameWarning if no object.
    """
    _check_params(method, threshold, low, high, min_size, max_size, max_foreground_fraction)
    probs = np.asarray(probs)
    p = _as_probability(_split_channel(probs, channel, ndim, sigma, source), source)

    sig = (1.0,) * p.ndim if sigma is None else sigma
    sig = np.broadcast_to(np.asarray(sig, dtype=float), (p.ndim,)) if np.ndim(sig) == 0 else np.asarray(sig, float)
    if sig.shape != (p.ndim,) or not np.all(np.isfinite(sig)) or np.any(sig < 0):
        raise ConfigError(f"objects.sigma must be >= 0 with one value per spatial axis ({p.ndim}); got {sigma!r}")
    if np.any(sig > 0):
        p = ndi.gaussian_filter(p, sigma=tuple(sig), output=np.float32, mode="reflect")

    if method == "simple":
        mask = p > threshold
        how = f"objects.threshold = {threshold}"
        hint = "objects.channel / objects.threshold"
    else:
        mask = apply_hysteresis_threshold(p, low, high)  # face connectivity, like ndi.label below
        how = f"objects.low = {low} / objects.high = {high}"
        hint = "objects.channel / objects.low / objects.high"

    fraction = float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0
    if fraction > max_foreground_fraction:
        raise InputError(
            f"{_where(source)}{100 * fraction:.1f} % of the frame is foreground after thresholding at {how} "
            f"(channel {channel}) — the probability channel or threshold is probably wrong ({hint})"
        )

    cc, n = ndi.label(mask)  # default structure = face connectivity
    if split and n:
        cc, n = split_touching(cc, split, voxel_size)
    labels, m = _size_filter_relabel(cc, n, min_size, max_size)
    if m == 0:
        why = f"{n} component(s) all removed by the size filter [{min_size}, {max_size}]" if n else f"nothing above {how}"
        warnings.warn(f"{_where(source)}no object in this frame ({why})", EmptyFrameWarning, stacklevel=2)
    return labels


def split_touching(labels: np.ndarray, ratio: float, voxel_size: Sequence[float] | None = None) -> tuple[np.ndarray, int]:
    """Split touching nuclei: seeded watershed on the distance to the background.

    Seeds are the maxima of the (anisotropic, physical) distance map that rise above the neck to any higher maximum
    by at least ``ratio`` × the component's largest distance (its inscribed radius): two round nuclei joined by a
    neck narrower than (1 − ratio) of their radius are split, while the jagged border of one nucleus is not, at any
    pixel size. A component without such a seed stays whole. Returns (labels 1..n, n).
    """
    from skimage.segmentation import watershed

    mask = labels > 0
    sampling = None if voxel_size is None else tuple(float(v) for v in voxel_size)[-labels.ndim:]
    # holes (dark nucleoli) would put a ring of maxima around them: measure the distance of the filled objects
    dist = ndi.distance_transform_edt(ndi.binary_fill_holes(mask), sampling=sampling) * mask
    n_in = int(labels.max())
    radius = np.zeros(n_in + 1)
    np.maximum.at(radius, labels.ravel(), dist.ravel())
    peaks = _h_maxima(dist, radius[labels] * float(ratio), mask)
    seeds, n = ndi.label(peaks)
    seeded = np.zeros(n_in + 1, bool)
    seeded[labels[seeds > 0]] = True
    lonely = np.flatnonzero(~seeded[1:]) + 1  # components left without a seed: one seed each
    if lonely.size:
        seeds = seeds.copy()
        for i, pos in enumerate(ndi.maximum_position(dist, labels, lonely)):
            seeds[pos] = n + 1 + i
        n += lonely.size
    if n == n_in:
        return labels, n
    # watershed regions stay inside their own component (seeds of one component cannot reach another)
    return watershed(-dist, seeds, mask=mask).astype(labels.dtype, copy=False), n


def _h_maxima(dist: np.ndarray, h: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Maxima of ``dist`` that rise at least ``h`` above the neck to any higher maximum, as plateaus (inside mask).

    dist lowered by h and rebuilt under dist (grey reconstruction) joins peaks above their neck into one plateau.
    Run per group of objects touching by any corner, each in its box with a ring of background: reconstruction and
    plateaus cannot cross background, so this equals the whole-image computation at a fraction of its cost.
    """
    from skimage.morphology import local_maxima, reconstruction

    peaks = np.zeros(mask.shape, bool)
    groups, _ = ndi.label(mask, structure=ndi.generate_binary_structure(mask.ndim, mask.ndim))
    for g, box in enumerate(ndi.find_objects(groups), start=1):
        box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in box)
        own = groups[box] == g
        d = np.where(own, dist[box], 0.0)
        hmax = reconstruction(np.maximum(d - h[box], 0.0), d, method="dilation")
        peaks[box] |= local_maxima(hmax, allow_borders=True) & own
    return peaks


def relabel_segmentation(
    labels: np.ndarray, *, min_size: int = 0, max_size: int | None = None, source: str = ""
) -> np.ndarray:
    """Clean a user-provided label image (which skips thresholding): size filter, then labels 1..n.

    Each label value stays one object even if its pixels are not connected (as in CTC masks);
    objects are renumbered in increasing order of their original value. Sizes in pixels, both inclusive.
    Float images are accepted when every value is a whole number (some tools save labels as float32).
    Returns uint32; warns EmptyFrameWarning when no object is left.
    """
    _check_sizes(min_size, max_size)
    lab = np.asarray(labels)
    if lab.ndim not in (2, 3):
        raise InputError(f"{_where(source)}label image has shape {lab.shape}; expected (y, x) or (z, y, x)")
    if lab.dtype.kind == "f":
        finite = np.isfinite(lab)
        if not finite.all() or np.any(lab != np.round(lab)):
            raise InputError(
                f"{_where(source)}label image has dtype {lab.dtype} with non-integer values; "
                "expected an integer label image (0 = background)"
            )
    elif lab.dtype.kind not in "iu":
        raise InputError(
            f"{_where(source)}label image has dtype {lab.dtype}; expected integers (0 = background, 1..n objects)"
        )
    if lab.size and lab.min() < 0:
        raise InputError(f"{_where(source)}label image contains negative values (min {lab.min()})")
    lab = lab.astype(np.int64, copy=False)

    flat = lab.ravel()
    max_label = int(flat.max()) if flat.size else 0
    if max_label <= 4 * flat.size + 1024:
        sizes = np.bincount(flat, minlength=max_label + 1)
        values = np.arange(max_label + 1)
        inverse = flat
    else:  # very sparse label values: avoid a huge lookup table
        values, inverse, sizes = np.unique(flat, return_inverse=True, return_counts=True)
    keep = (sizes >= min_size) & (sizes > 0) & (values != 0)
    if max_size is not None:
        keep &= sizes <= max_size
    lut = np.zeros(len(values), dtype=np.uint32)
    m = int(keep.sum())
    lut[keep] = np.arange(1, m + 1, dtype=np.uint32)
    out = lut[inverse].reshape(lab.shape)
    if m == 0:
        warnings.warn(f"{_where(source)}no object in this label image (after the size filter)", EmptyFrameWarning,
                      stacklevel=2)
    return out


def threshold_from_config(probs: np.ndarray, objects: dict, voxel_size: Sequence[float], source: str = "") -> np.ndarray:
    """:func:`threshold_frame` with the ``objects`` section of the config (sigma in physical units).

    ``split`` 'auto' must be resolved first (:func:`lineageflow.segment.resolved_objects`); here it means off."""
    o = objects
    return threshold_frame(probs, channel=o["channel"], method=o["method"], threshold=o["threshold"], low=o["low"],
                           high=o["high"], sigma=sigma_pixels(o["sigma"][-len(voxel_size):], voxel_size),
                           min_size=o["min_size"], max_size=o["max_size"] or None,
                           max_foreground_fraction=o["max_foreground_fraction"], ndim=len(voxel_size), source=source,
                           split=0.0 if o["split"] == "auto" else o["split"], voxel_size=voxel_size)

"""ilastik's pixel-feature filter bank on numpy arrays.

Six feature families at scales σ, computed the way ilastik 1.4 computes them (lazyflow's
``OpPixelFeaturesPresmoothed`` with Sven Peter's *fastfilters*), so a classifier trained on our features
behaves like one trained in ilastik:

* **Pre-smoothing.** For σ > 1 the image is first smoothed with √(σ² − 1) and the filter then runs at
  σ' = 1 (together exactly σ). For σ ≤ 1 the image is pre-smoothed with σ *and* the filter runs at σ
  (effective smoothing σ·√2 — an ilastik quirk we keep for parity). Pre-smoothing kernels have radius
  round(3.5·σ), filter kernels radius round(2·σ') (ilastik's window sizes 3.5 and 2).
* **Filters at σ'** (on the pre-smoothed image, mirror borders):
  GaussianSmoothing = G_σ'; LaplacianOfGaussian = Σ ∂²ᵢ; GaussianGradientMagnitude = |∇|;
  DifferenceOfGaussians = G_σ' − G_0.66σ'; StructureTensorEigenvalues = eigenvalues of
  G_σ' * (∇I ∇Iᵀ) with ∇ at 0.5·σ' (what fastfilters computes for ilastik's inner σ', outer 0.5σ');
  HessianOfGaussianEigenvalues. Eigenvalues are sorted descending (largest first), one channel per
  spatial axis. Derivative kernels are sampled Gaussian derivatives normalised by their moments (a unit
  ramp has gradient 1, x²/2 has second derivative 1), as in vigra/fastfilters.
* **compute_in_2d** (per selected entry): on 3D data the entry is computed slice by slice in (y, x) — no
  smoothing along z and two eigenvalues instead of three (ilastik's "in 2D"). Ignored for 2D images.
* **Anisotropy** (our addition; ilastik filters isotropically in pixels): with ``voxel_size`` (z, y, x) or
  (y, x) in physical units, σ is given in pixels of the finest axis and per axis
  σₐ = σ / (voxel_sizeₐ / min(voxel_size)); the pre-smoothing split above is applied per axis, and
  derivatives are expressed per finest-axis pixel so eigenvalues stay rotation-consistent.
  ``voxel_size=None`` (or isotropic) reproduces ilastik.

Feature order (= ilastik's): entries in :attr:`FeatureSpec.selection` order (feature family in
:data:`FEATURE_IDS` order, then ascending σ); within an entry, input channels, then eigenvalue index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import ndimage

from lineageflow.errors import ConfigError, InputError

FEATURE_IDS = (
    "GaussianSmoothing",
    "LaplacianOfGaussian",
    "GaussianGradientMagnitude",
    "DifferenceOfGaussians",
    "StructureTensorEigenvalues",
    "HessianOfGaussianEigenvalues",
)
SCALES = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)

# ilastik's display names (as in the .ilp "feature_names" list)
FEATURE_TITLES = {
    "GaussianSmoothing": "Gaussian Smoothing",
    "LaplacianOfGaussian": "Laplacian of Gaussian",
    "GaussianGradientMagnitude": "Gaussian Gradient Magnitude",
    "DifferenceOfGaussians": "Difference of Gaussians",
    "StructureTensorEigenvalues": "Structure Tensor Eigenvalues",
    "HessianOfGaussianEigenvalues": "Hessian of Gaussian Eigenvalues",
}
_EIGEN = ("StructureTensorEigenvalues", "HessianOfGaussianEigenvalues")

PRESMOOTH_WINDOW = 3.5  # lazyflow OpPixelFeaturesPresmoothed.WINDOW_SIZE
FILTER_WINDOW = 2.0  # lazyflow OpBaseFilter.window_size_feature
DOG_RATIO = 0.66  # DoG: G(σ) − G(0.66σ)
ST_GRADIENT_RATIO = 0.5  # structure tensor: gradient at 0.5σ, averaged at σ
_BORDER = "mirror"  # vigra/fastfilters reflect without repeating the edge pixel


def _scale_key(scale: float) -> float:
    return round(float(scale), 6)


@dataclass(frozen=True)
class FeatureSpec:
    """Which (feature, σ) pairs to compute, and which of them slice-wise in 2D.

    ``selection`` is kept in ilastik's order (family as in :data:`FEATURE_IDS`, then ascending σ) whatever
    order it is given in. ``compute_in_2d`` has one flag per selection entry (empty → all False).
    """

    selection: tuple[tuple[str, float], ...]
    compute_in_2d: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        pairs = []
        for entry in self.selection:
            try:
                fid, scale = entry
                scale = float(scale)
            except (TypeError, ValueError):
                raise ConfigError(f"feature selection entry {entry!r} is not a (feature, scale) pair") from None
            if fid not in FEATURE_IDS:
                raise ConfigError(f"unknown feature {fid!r} in {entry!r}; known: {', '.join(FEATURE_IDS)}")
            if not (math.isfinite(scale) and scale > 0):
                raise ConfigError(f"scale of {entry!r} must be a positive number")
            pairs.append((str(fid), _scale_key(scale)))
        if not pairs:
            raise ConfigError("feature selection is empty: select at least one (feature, scale)")
        flags = tuple(bool(b) for b in self.compute_in_2d) if len(self.compute_in_2d) else (False,) * len(pairs)
        if len(flags) != len(pairs):
            raise ConfigError(
                f"compute_in_2d has {len(flags)} flags for {len(pairs)} selected features (need one per entry)"
            )
        if len(set(pairs)) != len(pairs):
            dup = sorted({p for p in pairs if pairs.count(p) > 1})
            raise ConfigError(f"feature selection lists {dup} more than once")
        order = sorted(range(len(pairs)), key=lambda i: (FEATURE_IDS.index(pairs[i][0]), pairs[i][1]))
        object.__setattr__(self, "selection", tuple(pairs[i] for i in order))
        object.__setattr__(self, "compute_in_2d", tuple(flags[i] for i in order))

    # ---- constructors -------------------------------------------------------------------------------
    @classmethod
    def default(cls) -> "FeatureSpec":
        """Gaussian at 0.3 plus all six families at σ 0.7, 1.0, 1.6, 3.5, 5.0 (ilastik's usual pick, 3D)."""
        sel = [("GaussianSmoothing", 0.3)]
        sel += [(f, s) for f in FEATURE_IDS for s in (0.7, 1.0, 1.6, 3.5, 5.0)]
        return cls(tuple(sel))

    @classmethod
    def from_matrix(
        cls,
        feature_ids: Sequence[str],
        scales: Sequence[float],
        selection_matrix: Any,
        compute_in_2d: Sequence[bool] | None = None,
    ) -> "FeatureSpec":
        """From the .ilp layout: matrix[i, j] selects feature_ids[i] at scales[j]; compute_in_2d per scale."""
        ids = [f.decode() if isinstance(f, bytes) else str(f) for f in feature_ids]
        matrix = np.asarray(selection_matrix, dtype=bool)
        if matrix.shape != (len(ids), len(scales)):
            raise ConfigError(
                f"selection matrix has shape {matrix.shape}, expected ({len(ids)} features, {len(scales)} scales)"
            )
        per_scale = [False] * len(scales) if compute_in_2d is None else [bool(b) for b in compute_in_2d]
        if len(per_scale) != len(scales):
            raise ConfigError(f"compute_in_2d has {len(per_scale)} flags for {len(scales)} scales")
        sel, flags = [], []
        for i, fid in enumerate(ids):
            for j, s in enumerate(scales):
                if matrix[i, j]:
                    sel.append((fid, float(s)))
                    flags.append(per_scale[j])
        return cls(tuple(sel), tuple(flags))

    @classmethod
    def from_names(cls, names: Iterable[str]) -> "FeatureSpec":
        """From config strings ``"Feature:σ"`` or ``"Feature:σ:2d"`` (σ one of :data:`SCALES`)."""
        if isinstance(names, str):
            names = [names]
        sel, flags = [], []
        for name in names:
            parts = str(name).split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip().lower() not in ("2d", "3d")):
                raise ConfigError(f"feature {name!r}: expected 'FeatureId:scale' or 'FeatureId:scale:2d'")
            fid = parts[0].strip()
            if fid not in FEATURE_IDS:
                raise ConfigError(f"feature {name!r}: unknown feature {fid!r}; known: {', '.join(FEATURE_IDS)}")
            try:
                scale = float(parts[1])
            except ValueError:
                raise ConfigError(f"feature {name!r}: scale {parts[1]!r} is not a number") from None
            if not any(abs(scale - s) < 1e-9 for s in SCALES):
                raise ConfigError(f"feature {name!r}: scale {scale} is not one of {SCALES}")
            sel.append((fid, scale))
            flags.append(len(parts) == 3 and parts[2].strip().lower() == "2d")
        return cls(tuple(sel), tuple(flags))

    # ---- (de)serialisation ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The ``from_names`` strings of this spec."""
        return [f"{f}:{s:g}" + (":2d" if c else "") for (f, s), c in zip(self.selection, self.compute_in_2d)]

    def to_dict(self) -> dict:
        return {"selection": [[f, s] for f, s in self.selection], "compute_in_2d": list(self.compute_in_2d)}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureSpec":
        try:
            sel = tuple((str(f), float(s)) for f, s in data["selection"])
            flags = tuple(bool(b) for b in data.get("compute_in_2d", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid feature spec {data!r}: {exc}") from None
        return cls(sel, flags)


# ---- feature bookkeeping ---------------------------------------------------------------------------------
def _n_out(fid: str, n_active: int) -> int:
    return n_active if fid in _EIGEN else 1


def _n_active(ndim: int, in2d: bool) -> int:
    return 2 if (ndim == 2 or in2d) else 3


def feature_names(spec: FeatureSpec, ndim: int, n_channels: int = 1) -> list[str]:
    """Column names of :func:`compute_features` output, ilastik style, e.g. ``"Gaussian Smoothing (σ=1.0)"``.

    Multi-channel inputs get a ``" c{k}"`` suffix per input channel.
    """
    if ndim not in (2, 3):
        raise InputError(f"features need 2D or 3D images, got {ndim} spatial dimensions")
    names = []
    for (fid, s), in2d in zip(spec.selection, spec.compute_in_2d):
        base = f"{FEATURE_TITLES[fid]} (σ={float(s)!r})"
        if in2d and ndim == 3:
            base += " in 2D"
        n = _n_out(fid, _n_active(ndim, in2d and ndim == 3))
        for c in range(n_channels):
            cs = f" c{c}" if n_channels > 1 else ""
            for k in range(n):
                names.append(base + cs + (f" [{k}]" if n > 1 else ""))
    return names


# ---- kernels and separable filtering -------------------------------------------------------------------
_KERNELS: dict[tuple[int, float, float], np.ndarray] = {}


def gaussian_kernel(order: int, sigma: float, window: float) -> np.ndarray:
    """1D correlation kernel of a sampled Gaussian derivative (length 2r+1, r = round(window·σ)).

    Moment-normalised like vigra/fastfilters: order 0 sums to 1; order 1 maps a unit ramp to 1; order 2 has
    zero DC and maps x²/2 to 1. Derivative kernels get at least radius 1 (a central difference at tiny σ).
    """
    key = (order, round(sigma, 9), window)
    k = _KERNELS.get(key)
    if k is not None:
        return k
    if sigma < 1e-6:
        radius = 0
    elif window > 0:
        radius = int(math.floor(window * sigma + 0.5))
    else:
        radius = int(math.ceil((3.0 + 0.5 * order) * sigma))
    if order > 0:
        radius = max(radius, 1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2) if sigma >= 1e-6 else (x == 0).astype(np.float64)
    if order == 0:
        k = g / g.sum()
    elif order == 1:
        k = x * g
        k = k / np.sum(x * k)  # correlation: sum f(i+x) k(x) on f = x gives 1
    elif order == 2:
        k = (x * x / (sigma * sigma) - 1.0) * g if sigma >= 1e-6 else (x * x - 1.0)
        k = k - k.mean()
        k = k / np.sum(0.5 * x * x * k)
    else:
        raise ValueError("derivative order must be 0, 1 or 2")
    k.setflags(write=False)
    _KERNELS[key] = k
    return k


_SHIFT_ADD_MAX = 9  # kernels up to this length run as numpy shift-and-add off the last axis


def _correlate1d(a: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    """float32 1D correlation with mirror borders (scipy is slow along non-contiguous axes)."""
    axis = axis % a.ndim
    if axis == a.ndim - 1 or k.size > _SHIFT_ADD_MAX:
        return ndimage.correlate1d(a, k, axis=axis, mode=_BORDER, output=np.float32)
    r = k.size // 2
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    p = np.pad(a, pad, mode="reflect") if n > 1 else np.repeat(a, 2 * r + 1, axis=axis)

    def tap(i):
        sl = [slice(None)] * a.ndim
        sl[axis] = slice(i, i + n)
        return p[tuple(sl)]

    out = np.zeros(a.shape, np.float32)
    sym = np.allclose(k, k[::-1])
    anti = not sym and np.allclose(k, -k[::-1])
    for i in range(r + 1 if (sym or anti) else k.size):
        c = np.float32(k[i])
        if c == 0:
            continue
        j = k.size - 1 - i
        if (sym or anti) and i != j:
            pair = tap(i) + tap(j) if sym else tap(i) - tap(j)
            out += c * pair
        else:
            out += c * tap(i)
    return out


def _filter(img: np.ndarray, sig: dict[int, float], orders: dict[int, int], window: float,
            unit: dict[int, float]) -> np.ndarray:
    """Separable Gaussian (derivative) filter along the axes in ``sig`` (others untouched)."""
    out = img
    # contiguous (last) axis first: later passes then work on fresh arrays
    for ax in sorted(sig, reverse=True):
        o = orders.get(ax, 0)
        k = gaussian_kernel(o, sig[ax], window)
        if k.size == 1:
            continue
        out = _correlate1d(out, k, ax)
        if o and unit[ax] != 1.0:
            out *= np.float32(unit[ax] ** -o)
    if out is img:
        out = img.copy()
    return out


def _derivatives(img, sig, window, wanted, unit) -> dict[tuple[int, ...], np.ndarray]:
    """Several Gaussian derivatives sharing partial separable passes (prefix tree over the axes)."""
    axes = sorted(sig, reverse=True)  # contiguous axis first (fast pass on the original array)
    pos = {ax: i for i, ax in enumerate(sorted(sig))}  # order tuples are indexed by ascending axis
    results: dict[tuple[int, ...], np.ndarray] = {}

    def walk(arr, depth, targets):
        if depth == len(axes):
            results[targets[0]] = arr if arr is not img else img.copy()
            return
        ax = axes[depth]
        for o in sorted({t[pos[ax]] for t in targets}):
            sub = [t for t in targets if t[pos[ax]] == o]
            nxt = _filter(arr, {ax: sig[ax]}, {ax: o}, window, unit)
            walk(nxt, depth + 1, sub)

    walk(img, 0, sorted({tuple(t) for t in wanted}))
    return results


def _sym_eigvals(m: dict[tuple[int, int], np.ndarray], n: int) -> list[np.ndarray]:
    """Eigenvalues (descending) of symmetric n×n fields given as {(i, j): array} with i <= j."""
    if n == 2:
        a, b, c = m[(0, 0)], m[(0, 1)], m[(1, 1)]
        half_tr = 0.5 * (a + c)
        disc = np.sqrt(np.maximum((0.5 * (a - c)) ** 2 + b * b, 0))
        return [half_tr + disc, half_tr - disc]
    shape = m[(0, 0)].shape
    out = [np.empty(shape, np.float32) for _ in range(3)]
    flat = [np.ravel(m[k]) for k in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))]
    res = [o.reshape(-1) for o in out]
    step = 1 << 15  # small chunks keep the temporaries in cache
    root3 = np.float32(math.sqrt(3.0))
    for lo in range(0, flat[0].size, step):
        sl = slice(lo, lo + step)
        a00, a01, a02, a11, a12, a22 = (f[sl] for f in flat)
        # closed form (trigonometric, as vigra/fastfilters), entries scaled by the largest against overflow
        scale = np.abs(a00)
        for v in (a01, a02, a11, a12, a22):
            np.maximum(scale, np.abs(v), out=scale)
        scale[scale == 0] = 1.0
        inv = 1.0 / scale
        a00, a01, a02, a11, a12, a22 = (v * inv for v in (a00, a01, a02, a11, a12, a22))
        c0 = a00 * a11 * a22 + 2 * a01 * a02 * a12 - a00 * a12 * a12 - a11 * a02 * a02 - a22 * a01 * a01
        c1 = a00 * a11 - a01 * a01 + a00 * a22 - a02 * a02 + a11 * a22 - a12 * a12
        c2d3 = (a00 + a11 + a22) * np.float32(1 / 3)
        a_d3 = np.minimum((c1 - 3 * c2d3 * c2d3) * np.float32(1 / 3), 0)
        mb_d2 = 0.5 * (c0 + c2d3 * (2 * c2d3 * c2d3 - c1))
        q = np.minimum(mb_d2 * mb_d2 + a_d3 * a_d3 * a_d3, 0)
        mag = np.sqrt(-a_d3)
        ang = np.arctan2(np.sqrt(-q), mb_d2) * np.float32(1 / 3)
        cs, sn = np.cos(ang), np.sin(ang)
        r0 = c2d3 + 2 * mag * cs
        r1 = c2d3 - mag * (cs + root3 * sn)
        r2 = c2d3 - mag * (cs - root3 * sn)
        # sort descending with a 3-element network
        hi, lo_ = np.maximum(r0, r1), np.minimum(r0, r1)
        top, mid0 = np.maximum(hi, r2), np.minimum(hi, r2)
        mid, bot = np.maximum(lo_, mid0), np.minimum(lo_, mid0)
        res[0][sl] = top * scale
        res[1][sl] = mid * scale
        res[2][sl] = bot * scale
    return out


def _axis_units(voxel_size, ndim: int) -> list[float]:
    if voxel_size is None:
        return [1.0] * ndim
    vs = [float(v) for v in np.atleast_1d(voxel_size)]
    if len(vs) != ndim or not all(math.isfinite(v) and v > 0 for v in vs):
        raise InputError(f"voxel_size {voxel_size!r} must give {ndim} positive sizes (one per spatial axis)")
    m = min(vs)
    return [v / m for v in vs]


def _group_features(img: np.ndarray, fids: list[str], scale: float, active: list[int],
                    units: list[float]) -> dict[str, list[np.ndarray]]:
    """All features of one (σ, active axes) group for one channel; pre-smoothing shared."""
    pre_sig, f_sig = {}, {}
    for ax in active:
        s_ax = scale / units[ax]
        if s_ax > 1.0:
            pre_sig[ax], f_sig[ax] = math.sqrt(s_ax * s_ax - 1.0), 1.0
        else:
            pre_sig[ax], f_sig[ax] = s_ax, s_ax
    unit = {ax: units[ax] for ax in active}
    pre = _filter(img, pre_sig, {}, PRESMOOTH_WINDOW, unit)
    n = len(active)
    eye = [tuple(int(i == j) for j in range(n)) for i in range(n)]
    pairs = [(i, j) for i in range(n) for j in range(i, n)]
    hess = [tuple(int(k == i) + int(k == j) for k in range(n)) for i, j in pairs]
    # every derivative at σ' any requested feature needs, sharing separable passes
    wanted: set[tuple[int, ...]] = set()
    need = set(fids)
    if need & {"GaussianSmoothing", "DifferenceOfGaussians"}:
        wanted.add((0,) * n)
    if "GaussianGradientMagnitude" in need:
        wanted.update(eye)
    if "LaplacianOfGaussian" in need:
        wanted.update(tuple(2 * e for e in row) for row in eye)
    if "HessianOfGaussianEigenvalues" in need:
        wanted.update(hess)
    d = _derivatives(pre, f_sig, FILTER_WINDOW, wanted, unit) if wanted else {}
    out: dict[str, list[np.ndarray]] = {}
    for fid in fids:
        if fid == "GaussianSmoothing":
            out[fid] = [d[(0,) * n]]
        elif fid == "DifferenceOfGaussians":
            other = _filter(pre, {a: DOG_RATIO * s for a, s in f_sig.items()}, {}, FILTER_WINDOW, unit)
            out[fid] = [np.subtract(d[(0,) * n], other, out=other)]
        elif fid == "LaplacianOfGaussian":
            acc = d[tuple(2 * e for e in eye[0])].copy()
            for row in eye[1:]:
                acc += d[tuple(2 * e for e in row)]
            out[fid] = [acc]
        elif fid == "GaussianGradientMagnitude":
            acc = np.square(d[eye[0]])
            for row in eye[1:]:
                acc += np.square(d[row])
            out[fid] = [np.sqrt(acc, out=acc)]
        elif fid == "HessianOfGaussianEigenvalues":
            out[fid] = _sym_eigvals({p: d[w] for p, w in zip(pairs, hess)}, n)
        elif fid == "StructureTensorEigenvalues":
            g_sig = {a: ST_GRADIENT_RATIO * s for a, s in f_sig.items()}
            g = _derivatives(pre, g_sig, FILTER_WINDOW, eye, unit)
            grads = [g[e] for e in eye]
            del g
            tensor = {(i, j): _filter(grads[i] * grads[j], f_sig, {}, FILTER_WINDOW, unit) for i, j in pairs}
            del grads
            out[fid] = _sym_eigvals(tensor, n)
            del tensor
    return out


def compute_features(image, spec: FeatureSpec, voxel_size=None, *, channels: bool = False) -> np.ndarray:
    """Compute ``spec``'s features of a (y, x) or (z, y, x) image (channel-last if ``channels``).

    Returns float32 of shape spatial + (F,), F = ``len(feature_names(spec, ndim, n_channels))``, columns in
    that order. See the module docstring for the exact definitions, σ handling and ``voxel_size``.
    """
    first = features_first(image, spec, voxel_size, channels=channels)
    out = np.empty(first.shape[1:] + first.shape[:1], np.float32)
    src, dst = first.reshape(first.shape[0], -1), out.reshape(-1, first.shape[0])
    for lo in range(0, src.shape[1], 4096):  # blocked transpose: cache friendly
        dst[lo:lo + 4096] = src[:, lo:lo + 4096].T
    return out


def features_first(image, spec: FeatureSpec, voxel_size=None, *, channels: bool = False) -> np.ndarray:
    """Like :func:`compute_features` but feature axis first: (F,) + spatial (cheaper, no transpose)."""
    arr = np.asarray(image)
    if channels:
        if arr.ndim < 3:
            raise InputError(f"channels=True needs (..., C) data, got shape {arr.shape}")
        spatial, n_ch = arr.shape[:-1], arr.shape[-1]
    else:
        spatial, n_ch = arr.shape, 1
        arr = arr[..., None]
    ndim = len(spatial)
    if ndim not in (2, 3):
        raise InputError(f"features need a 2D (y, x) or 3D (z, y, x) image, got shape {np.shape(image)}")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"image dtype {arr.dtype} is not numeric")
    units = _axis_units(voxel_size, ndim)

    # first output row of every selection entry
    offsets, row = [], 0
    for (fid, s), in2d in zip(spec.selection, spec.compute_in_2d):
        n = _n_out(fid, _n_active(ndim, in2d and ndim == 3))
        offsets.append(row)
        row += n * n_ch
    out = np.empty((row,) + tuple(spatial), np.float32)

    # one group per (σ, 2D?) so pre-smoothing is computed once per group and channel
    groups: dict[tuple[float, bool], list[int]] = {}
    for idx, ((fid, s), in2d) in enumerate(zip(spec.selection, spec.compute_in_2d)):
        groups.setdefault((s, bool(in2d and ndim == 3)), []).append(idx)

    for c in range(n_ch):
        img = np.ascontiguousarray(arr[..., c], dtype=np.float32)
        for (s, in2d), idxs in groups.items():
            active = list(range(ndim))[-2:] if in2d else list(range(ndim))
            feats = _group_features(img, [spec.selection[i][0] for i in idxs], s, active, units)
            for i in idxs:
                chans = feats[spec.selection[i][0]]
                base = offsets[i] + c * len(chans)
                for k, ch in enumerate(chans):
                    out[base + k] = ch
            del feats
    return out

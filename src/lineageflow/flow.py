"""Flow fields between consecutive frames, for linking highly motile cells (as ultrack's motile-cell tutorial does):
a dense displacement field per frame pair t → t+1 on a coarse grid, in physical units, so that each object can be
moved by the flow before the k-nearest candidate search and the distance terms.

Estimation on block-averaged, per-frame normalised images: a global shift by phase correlation, refined by phase
correlation of overlapping tiles at halving sizes (each on the second frame warped by the field so far, so large
coherent motion — drift, rotation, shear — is found coarse to fine; tiles whose content leaves the frame, which
lack signal or disagree with their neighbours keep the coarser estimate); optionally a TV-L1 optical flow residual
(scikit-image) for what varies within the smallest tiles. z is block-averaged only as far as the voxel is
anisotropic, so a short z axis keeps its slices.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import h5py
import numpy as np
from scipy import ndimage as ndi
from skimage.registration import optical_flow_tvl1, phase_cross_correlation
from skimage.transform import downscale_local_mean

from .atomic import atomic_path
from .candidates import FLOW_COLUMNS, POSITION, advected_positions  # noqa: F401 (re-exported)
from .errors import ConfigError, InputError

_POS = POSITION


@dataclass(frozen=True)
class FlowConfig:
    """Config section ``flow`` (defaults in config/schema.yaml)."""

    enabled: bool = False
    downscale: int = 4  # block size in y and x (pixels) of the grid the flow is estimated and stored on
    min_tile: int = 16  # smallest phase-correlation tile, in grid points
    tvl1: bool = False  # refine within the smallest tiles by TV-L1 optical flow (off: it follows noise where nuclei are sparse)
    background_sigma: float = 32.0  # y/x Gaussian (pixels) of the illumination removed before matching; 0 = none

    @classmethod
    def from_config(cls, section: dict | None) -> "FlowConfig":
        section = dict(section or {})
        unknown = set(section) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"config key 'flow' has unknown key(s) {sorted(unknown)}")
        cfg = cls(**section)
        if not (isinstance(cfg.downscale, (int, np.integer)) and cfg.downscale >= 1):
            raise ConfigError(f"config key 'flow.downscale' = {cfg.downscale!r}; it must be an integer >= 1")
        if not (isinstance(cfg.min_tile, (int, np.integer)) and cfg.min_tile >= 4):
            raise ConfigError(f"config key 'flow.min_tile' = {cfg.min_tile!r}; it must be an integer >= 4")
        sigma = cfg.background_sigma
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.number)) or not 0 <= sigma < np.inf:
            raise ConfigError(f"config key 'flow.background_sigma' = {sigma!r}; it must be a number >= 0 (pixels)")
        return cfg


def check_movie(n_frames: int) -> None:
    """Flow needs at least one frame pair."""
    if n_frames < 2:
        raise ConfigError(f"config key 'flow.enabled' is true but the movie has {n_frames} frame(s): a flow field "
                          "needs two frames at least; set flow.enabled: false")


def grid_factors(voxel_size, ndim: int, downscale: int) -> tuple[int, int, int]:
    """Block sizes (z, y, x): ``downscale`` in y and x; in z only as far as that brings the z spacing towards the
    y/x spacing of the grid (1 for 2D and for a coarse z), so a short, anisotropic z axis is not collapsed."""
    if ndim == 2:
        return 1, downscale, downscale
    vz, vy = float(voxel_size[0]), float(voxel_size[1])
    return max(1, int(np.floor(downscale * vy / vz))), downscale, downscale


@dataclass(frozen=True)
class Grid:
    """The coarse grid of a movie: ``factors`` pixels per grid point along (z, y, x), ``shape`` grid points,
    ``voxel_size`` of the movie (z, y, x). Grid point i lies at the centre of its block."""

    factors: tuple[int, int, int]
    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]

    @classmethod
    def of(cls, spatial_shape, voxel_size, downscale: int) -> "Grid":
        ndim = len(spatial_shape)
        shape3 = (1, *spatial_shape) if ndim == 2 else tuple(spatial_shape)
        vs3 = (1.0, *map(float, voxel_size[-2:])) if ndim == 2 else tuple(map(float, voxel_size))
        f = grid_factors(vs3, ndim, downscale)
        return cls(f, tuple(int(-(-s // k)) for s, k in zip(shape3, f)), vs3)

    @property
    def spacing(self) -> np.ndarray:
        """Physical distance between grid points along (z, y, x)."""
        return np.asarray(self.factors, float) * np.asarray(self.voxel_size)

    @property
    def origin(self) -> np.ndarray:
        """Physical position of grid point 0."""
        return (np.asarray(self.factors, float) - 1) / 2 * np.asarray(self.voxel_size)

    def to_grid(self, positions: np.ndarray) -> np.ndarray:
        """Physical (n, 3) positions → fractional grid coordinates (n, 3)."""
        return (np.asarray(positions, float) - self.origin) / self.spacing


def _coarse(image: np.ndarray, grid: Grid, background_sigma: float = 0.0) -> np.ndarray:
    """Block mean on the grid, less its y/x Gaussian blur of ``background_sigma`` pixels (0: kept), normalised to
    [0, 1] between the 1st and 99.8th percentile (per frame, so bleaching does not read as motion)."""
    img = np.asarray(image, np.float32)
    img = img[None] if img.ndim == 2 else img
    small = downscale_local_mean(img, grid.factors).astype(np.float32)
    if background_sigma:
        # uneven illumination does not move with the cells: left in, it pulls phase correlation towards 0
        s = background_sigma / grid.factors[1]
        small = small - ndi.gaussian_filter(small, (0, s, s), mode="nearest")
    lo, hi = np.percentile(small, [1.0, 99.8])
    return np.clip((small - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)


def _warp(image: np.ndarray, u: np.ndarray) -> np.ndarray:
    """image(x + u(x)) for a displacement ``u`` (3, *shape) in grid points: the second frame moved back onto the
    first."""
    coords = np.indices(image.shape, dtype=np.float32) + u
    return ndi.map_coordinates(image, coords, order=1, mode="constant", cval=0.0).astype(np.float32)  # 0 = background


def _shift(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Displacement (grid points, z y x) of the content of ``a`` found in ``b``; None where either has no signal."""
    if a.std() < 0.02 or b.std() < 0.02:
        return None
    axes = [i for i in range(3) if a.shape[i] > 1]  # phase correlation only along axes longer than 1
    aa, bb = a.squeeze(), b.squeeze()
    if aa.ndim == 0:
        return None
    # no taper: the background is ~0 after normalisation, and a taper biases large shifts towards 0
    shift, _, _ = phase_cross_correlation(aa, bb, upsample_factor=4, normalization=None)
    out = np.zeros(3)
    out[axes] = -np.asarray(shift, float)
    return out


def _tile_starts(n: int, size: int) -> np.ndarray:
    """Tile start indices along one axis: overlapping by half, the last tile ending at the border."""
    if n <= size:
        return np.array([0])
    step = max(1, size // 2)
    starts = np.arange(0, n - size + 1, step)
    return np.unique(np.append(starts, n - size))


def _neighbour_median(res: np.ndarray) -> np.ndarray:
    """Median over each tile's 3×3×3 neighbourhood (edges replicated), ignoring NaN; 0 where all are NaN."""
    pad = np.pad(res, ((1, 1), (1, 1), (1, 1), (0, 0)), mode="edge")
    nz, ny, nx = res.shape[:3]
    stack = np.stack([pad[i:i + nz, j:j + ny, k:k + nx] for i in range(3) for j in range(3) for k in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods
        med = np.nanmedian(stack, axis=0)
    return np.where(np.isnan(med), 0.0, med)


def _tile_shifts(a: np.ndarray, b: np.ndarray, starts, sizes) -> np.ndarray:
    """Phase-correlation shift (grid points, z y x) of every tile at once — batched FFTs of all tiles, the peak
    refined by a parabola per axis; NaN for tiles without signal or with a shift beyond a third of the tile."""
    def tiles(img):
        view = np.lib.stride_tricks.sliding_window_view(img, sizes)
        return view[np.ix_(starts[0], starts[1], starts[2])]

    ta, tb = tiles(a), tiles(b)  # (nz, ny, nx, sz, sy, sx)
    axes = (-3, -2, -1)
    cc = np.fft.ifftn(np.fft.fftn(ta, axes=axes) * np.conj(np.fft.fftn(tb, axes=axes)), axes=axes).real
    flat = cc.reshape(*cc.shape[:3], -1)
    peak = np.stack(np.unravel_index(flat.argmax(axis=-1), sizes), axis=-1)  # (nz, ny, nx, 3)
    shift = np.zeros(peak.shape)
    grid_idx = np.indices(cc.shape[:3])
    for ax in range(3):
        n = sizes[ax]
        if n < 3:
            continue
        at = [grid_idx[0], grid_idx[1], grid_idx[2], peak[..., 0], peak[..., 1], peak[..., 2]]
        centre = cc[tuple(at)]
        at[3 + ax] = (peak[..., ax] - 1) % n
        lo = cc[tuple(at)]
        at[3 + ax] = (peak[..., ax] + 1) % n
        hi = cc[tuple(at)]
        den = lo - 2 * centre + hi
        sub = np.where(den < 0, 0.5 * (lo - hi) / np.where(den < 0, den, -1.0), 0.0)
        p = peak[..., ax] + np.clip(sub, -0.5, 0.5)
        shift[..., ax] = np.where(p > n / 2, p - n, p)
    # cc peaks at a − b's offset: the content of a is found in b at −shift
    res = -shift
    signal = (ta.std(axis=axes) >= 0.02) & (tb.std(axis=axes) >= 0.02)
    ok = signal & (np.abs(res) <= np.asarray(sizes) / 4).all(axis=-1)
    return np.where(ok[..., None], res, np.nan)


def _tile_level(a: np.ndarray, b: np.ndarray, u: np.ndarray, size: int) -> np.ndarray:
    """Residual displacement from tiles of ``size`` (y, x; z whole unless long), interpolated to every grid point."""
    bw = _warp(b, u)
    sizes = [a.shape[0] if a.shape[0] < 2 * size else size, size, size]
    starts = [_tile_starts(n, s) for n, s in zip(a.shape, sizes)]
    res = _tile_shifts(a, bw, starts, sizes)
    # a tile whose content the field carries mostly out of the frame has nothing to match (cells leaving)
    inside = np.ones(a.shape, bool)
    for ax in range(3):
        x = np.arange(a.shape[ax]).reshape([-1 if i == ax else 1 for i in range(3)]) + u[ax]
        inside &= (x >= 0) & (x <= a.shape[ax] - 1)
    seen = np.lib.stride_tricks.sliding_window_view(inside, sizes)[np.ix_(*starts)].mean(axis=(-3, -2, -1))
    res[seen < 0.75] = np.nan
    # a tile without signal, or whose shift disagrees with its neighbours, keeps the coarser estimate
    med = _neighbour_median(res)
    bad = np.isnan(res).any(axis=-1, keepdims=True) | (np.abs(res - med) > size / 6).any(axis=-1, keepdims=True)
    res = np.where(bad, med, res)
    mats = [_interp_matrix(a.shape[ax], starts[ax] + sizes[ax] / 2 - 0.5) for ax in range(3)]
    step = _spread(res, mats)
    # a tile whose own match the step makes worse (few cells, cells entering or leaving) keeps the coarser estimate
    worse = _tile_ssd(a, _warp(b, u + step), starts, sizes) > _tile_ssd(a, bw, starts, sizes)
    if worse.any():
        step = _spread(np.where(worse[..., None], 0.0, res), mats)
    return step


def _spread(res: np.ndarray, mats) -> np.ndarray:
    """Tile values (nz, ny, nx, 3) → a field (3, *shape): linear interpolation between tile centres, one small
    matrix per axis (separable)."""
    out = res
    for ax, m in enumerate(mats):
        out = np.moveaxis(np.tensordot(m, out, axes=(1, ax)), 0, ax)
    return np.moveaxis(out, -1, 0).astype(np.float32)


def _tile_ssd(a: np.ndarray, b: np.ndarray, starts, sizes) -> np.ndarray:
    """Sum of squared differences per tile (nz, ny, nx)."""
    view = np.lib.stride_tricks.sliding_window_view((a - b) ** 2, sizes)
    return view[np.ix_(starts[0], starts[1], starts[2])].sum(axis=(-3, -2, -1))


def _interp_matrix(n: int, centres: np.ndarray) -> np.ndarray:
    """(n, len(centres)) weights of linear interpolation at 0..n-1 between values at ``centres`` (held flat
    outside them)."""
    w = np.zeros((n, len(centres)))
    if len(centres) == 1:
        w[:, 0] = 1.0
        return w
    x = np.clip(np.arange(n, dtype=float), centres[0], centres[-1])
    i = np.clip(np.searchsorted(centres, x, side="right") - 1, 0, len(centres) - 2)
    f = (x - centres[i]) / (centres[i + 1] - centres[i])
    w[np.arange(n), i] = 1.0 - f
    w[np.arange(n), i + 1] += f
    return w


def _rotation_field(shape, angle: float) -> np.ndarray:
    """Displacement (3, *shape) of a rotation by ``angle`` about the centre of the y/x plane (grid points)."""
    _, y, x = np.indices(shape, dtype=np.float64)
    cy, cx = (shape[1] - 1) / 2, (shape[2] - 1) / 2
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = y - cy, x - cx
    return np.stack([np.zeros(shape), c * dy - s * dx - dy, s * dy + c * dx - dx]).astype(np.float32)


MAX_ROTATION = np.deg2rad(30.0)  # the largest rotation per frame the global search tries


def _aligned(a: np.ndarray, b: np.ndarray, angle: float) -> tuple[np.ndarray, float]:
    """The motion (3, *shape) of a rotation by ``angle`` about the centre plus the translation phase correlation
    finds after it, and the mean squared difference it leaves."""
    u = _rotation_field(a.shape, angle) if angle else np.zeros((3, *a.shape), np.float32)
    g = _shift(a, _warp(b, u))
    if g is not None:
        u = u + g.astype(np.float32)[:, None, None, None]
    return u, float(np.mean((a - _warp(b, u)) ** 2))


def _global(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The global motion (3, *shape): a translation, or a rotation about any point (about the centre, plus a
    translation) when one matches the frames clearly better. Round nuclei leave too little in the Fourier
    magnitudes for a log-polar estimate, so rotations are searched: every 2° on a grid of at most ~64 points a
    side, then every 0.5° around the best on the full grid."""
    still, still_err = _aligned(a, b, 0.0)
    if min(a.shape[1:]) < 16:
        return still
    k = max(1, int(np.ceil(max(a.shape[1:]) / 64)))
    small_a, small_b = (downscale_local_mean(x, (1, k, k)).astype(np.float32) for x in (a, b))
    coarse = np.deg2rad(np.arange(-30.0, 30.5, 2.0))
    errs = [_aligned(small_a, small_b, t)[1] for t in coarse]
    best = float(coarse[int(np.argmin(errs))])
    fine = best + np.deg2rad(np.arange(-1.5, 1.75, 0.5))
    u, err = min((_aligned(a, b, t) for t in fine if t), key=lambda r: r[1], default=(still, still_err))
    # a rotation or an affine motion must earn its place: slow cells and noise make tiny spurious ones
    best_u, best_err = (u, err) if err < 0.9 * still_err else (still, still_err)
    aff = _affine(a, b, best_u)
    if aff is not None:
        aff_err = float(np.mean((a - _warp(b, aff)) ** 2))
        if aff_err < min(0.9 * still_err, best_err):
            return aff
    return best_u


def _affine(a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray | None:
    """An affine motion in the y/x plane (shear, rotation, scaling, translation) fitted to the tile shifts at a
    quarter of the frame on top of ``u``, refitted up to three times on top of the last fit (each fit brings the
    far tiles within reach of phase correlation) while the frames match better; None when too few tiles have
    signal."""
    size = max(8, min(a.shape[1:]) // 4)
    sizes = [a.shape[0], size, size]
    starts = [np.array([0]), _tile_starts(a.shape[1], size), _tile_starts(a.shape[2], size)]
    cy, cx = np.meshgrid(starts[1] + size / 2 - 0.5, starts[2] + size / 2 - 0.5, indexing="ij")
    cy, cx = cy.astype(int), cx.astype(int)
    best, best_err = None, float(np.mean((a - _warp(b, u)) ** 2))
    for _ in range(3):
        field = _affine_fit(_tile_shifts(a, _warp(b, u), starts, sizes)[0], u, cy, cx)
        if field is None:
            break
        err = float(np.mean((a - _warp(b, field)) ** 2))
        if err >= best_err:
            break
        best, best_err, u = field, err, field
    return best


def _affine_fit(res: np.ndarray, u: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> np.ndarray | None:
    """The affine y/x field (3, *u.shape[1:]; z from ``u``) fitted to the tile residuals ``res`` (ny, nx, 3) plus
    ``u`` at the tile centres: two rounds of least squares, the second without the tiles farthest off."""
    total = res[..., 1:] + np.stack([u[1].mean(axis=0)[cy, cx], u[2].mean(axis=0)[cy, cx]], axis=-1)
    ok = np.isfinite(total).all(axis=-1)
    if ok.sum() < 6:
        return None
    X = np.column_stack([cy[ok], cx[ok], np.ones(ok.sum())])
    Y = total[ok]
    keep = np.ones(len(X), bool)
    for _ in range(2):
        coef, *_ = np.linalg.lstsq(X[keep], Y[keep], rcond=None)
        off = np.linalg.norm(X @ coef - Y, axis=1)
        keep = off <= max(np.percentile(off, 75), 0.5)
        if keep.sum() < 6:
            return None
    _, y, x = np.indices(u.shape[1:], dtype=np.float32)
    field = np.zeros_like(u)
    field[0] = u[0]
    field[1] = coef[0, 0] * y + coef[1, 0] * x + coef[2, 0]
    field[2] = coef[0, 1] * y + coef[1, 1] * x + coef[2, 1]
    return field


def estimate_flow(frame_a: np.ndarray, frame_b: np.ndarray, grid: Grid, *, min_tile: int = 16,
                  tvl1: bool = False, background_sigma: float = 32.0) -> np.ndarray:
    """Displacement field (3, *grid.shape) in physical units (z, y, x) carrying frame_a's content to frame_b."""
    a, b = (_coarse(f, grid, background_sigma) for f in (frame_a, frame_b))
    if a.shape != tuple(grid.shape) or b.shape != a.shape:
        raise InputError(f"flow: frames of shape {frame_a.shape} / {frame_b.shape} do not match the grid {grid.shape}")
    u = _global(a, b)
    size = 1 << int(np.floor(np.log2(max(min(a.shape[1:]) // 2, 1))))
    while size >= min_tile:
        for _ in range(2):  # a second pass sees the tiles already moved by the first
            u += _tile_level(a, b, u, size).astype(np.float32)
        size //= 2
    if tvl1:
        bw = _warp(b, u)
        moving = [i for i in range(3) if a.shape[i] > 1]
        r = optical_flow_tvl1(a.squeeze(), bw.squeeze(), attachment=10.0, num_warp=3, num_iter=10)
        res = np.zeros_like(u)
        res[moving] = np.clip(r, -min_tile / 4, min_tile / 4).reshape(len(moving), *a.shape)
        u += res
    return (u * grid.spacing[:, None, None, None].astype(np.float32)).astype(np.float32)


def sample(field: np.ndarray, grid: Grid, positions: np.ndarray) -> np.ndarray:
    """The field (3, *grid.shape) at physical positions (n, 3), linearly interpolated; (n, 3) physical."""
    positions = np.asarray(positions, float).reshape(-1, 3)
    if not len(positions):
        return np.zeros((0, 3))
    coords = grid.to_grid(positions).T
    return np.stack([ndi.map_coordinates(field[c].astype(np.float64), coords, order=1, mode="nearest")
                     for c in range(3)], axis=1)


def advect(field: np.ndarray, grid: Grid, positions: np.ndarray, steps: int = 1) -> np.ndarray:
    """Positions carried ``steps`` times through the same field (for trajectories in the report)."""
    pos = np.asarray(positions, float).reshape(-1, 3).copy()
    for _ in range(steps):
        pos += sample(field, grid, pos)
    return pos


# ---------------------------------------------------------------- chunk files


def write_flow_chunk(path, fields: np.ndarray, grid: Grid, *, t0: int, n_frames: int) -> None:
    """Write the fields (n_pairs, 3, *grid.shape) of frame pairs t0+i → t0+i+1 (HDF5 dataset ``flow``)."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            ds = f.create_dataset("flow", data=np.asarray(fields, np.float32).reshape(-1, 3, *grid.shape),
                                  compression="gzip", compression_opts=1, track_times=False,
                                  chunks=(1, 3, *grid.shape))
            ds.attrs["t0"] = int(t0)
            ds.attrs["n_frames"] = int(n_frames)
            ds.attrs["factors"] = np.asarray(grid.factors, np.int64)
            ds.attrs["voxel_size"] = np.asarray(grid.voxel_size, float)
            ds.attrs["spacing"] = grid.spacing
            ds.attrs["origin"] = grid.origin
            ds.attrs["units"] = "physical (voxel_size units), axes z y x"


def read_flow_chunk(path, spatial_shape=None) -> tuple[np.ndarray, Grid, int]:
    """(fields, grid, t0) of a flow chunk; checks that its grid covers a movie of ``spatial_shape`` and that every
    value is finite."""
    try:
        with h5py.File(path, "r") as f:
            ds = f["flow"]
            fields, t0 = ds[()], int(ds.attrs["t0"])
            stored = Grid(tuple(int(v) for v in ds.attrs["factors"]), tuple(int(v) for v in fields.shape[2:]),
                          tuple(float(v) for v in ds.attrs["voxel_size"]))
    except (OSError, KeyError) as exc:
        raise InputError(f"{path}: not a lineageflow flow chunk: {exc}") from exc
    if fields.ndim != 5 or fields.shape[1] != 3:
        raise InputError(f"{path}: flow of shape {fields.shape}; expected (pairs, 3, z, y, x)")
    if spatial_shape is not None:
        shape3 = (1, *spatial_shape) if len(spatial_shape) == 2 else tuple(spatial_shape)
        expected = tuple(int(-(-s // k)) for s, k in zip(shape3, stored.factors))
        if stored.shape != expected:
            raise InputError(f"{path}: flow grid {stored.shape} (blocks {stored.factors}) does not match the movie's "
                             f"frames {tuple(spatial_shape)}, which need a grid {expected}: the flow was estimated on "
                             "another movie; delete it to re-estimate")
    bad = ~np.isfinite(fields)
    if bad.any():
        pair = int(np.argwhere(bad)[0][0])
        raise InputError(f"{path}: {int(bad.sum())} NaN or infinite flow value(s), first in the pair of frames "
                         f"{t0 + pair} → {t0 + pair + 1}")
    return fields, stored, t0


def object_flow(table, fields: np.ndarray, grid: Grid, t0: int) -> np.ndarray:
    """Each object's displacement to the next frame (n, 3), the flow sampled at its position; 0 for objects of
    frames without a next frame in ``fields``."""
    out = np.zeros((len(table), 3))
    frames = table["frame"].to_numpy(np.int64)
    pos = table[_POS].to_numpy(float)
    for i in range(len(fields)):
        sel = frames == t0 + i
        if sel.any():
            out[sel] = sample(fields[i], grid, pos[sel])
    return out


def border_distances_along_flow(table, spatial_shape, voxel_size) -> tuple[np.ndarray, np.ndarray]:
    """Each object's y/x border distance where the flow brought it from (position − flow) and where it takes it
    (position + flow), each no larger than its own; 0 when that lies outside the field of view (the cell may
    have come in or may leave across the border). What the appearance / disappearance costs fade with."""
    shape = np.asarray(spatial_shape[-2:], float)
    vs = np.asarray(voxel_size[-2:], float)
    far = (shape - 1) * vs  # the last pixel centre
    own = table["border_distance_yx"].to_numpy(float)
    pos = table[_POS[1:]].to_numpy(float)
    step = table[FLOW_COLUMNS[1:]].to_numpy(float)

    def dist(p):
        return np.clip(np.minimum(p, far - p).min(axis=1), 0.0, None)

    return np.minimum(own, dist(pos - step)), np.minimum(own, dist(pos + step))


def magnitude_summary(fields: np.ndarray, t0: int) -> list[dict]:
    """Per frame pair: mean and max displacement magnitude (physical units) over the grid."""
    mag = np.linalg.norm(np.asarray(fields, float), axis=1)
    return [{"frame": t0 + i, "mean_displacement": float(m.mean()), "max_displacement": float(m.max())}
            for i, m in enumerate(mag)]

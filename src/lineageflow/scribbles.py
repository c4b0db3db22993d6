"""Sparse "scribble" labels sampled from ground-truth segmentations.

Benchmarks (e.g. the Cell Tracking Challenge) ship dense GT masks, but ilastik is trained on a few brush
strokes. :func:`sample_scribbles` imitates such a user, reproducibly, so a pixel classifier can be trained
without hand labelling:

1. **Foreground (label 1).** A random ``object_fraction`` of the GT objects (at least one) each get
   ``n_strokes_per_object`` strokes. A stroke is a smooth random walk of up to ``stroke_length`` pixels
   (direction jittered by ~17° per step, a new direction tried when the walk would leave the allowed
   region, stop when none works). It stays inside the object eroded by ``erosion`` px (Euclidean distance
   to the object's outside > ``erosion``); objects too thin for that use their innermost pixels.
2. **Background (label 2).** ``background_strokes`` walks (default: as many as foreground strokes) in the
   region at least ``min_distance_from_objects`` px away from every object (distance transform of the
   background).
3. **Touching boundaries (label 2, optional).** Where two different GT objects touch, a piece (up to
   ``stroke_length`` px across) of their common border — the pixels of either object that have a
   neighbour in the other — is labelled background, as ilastik users do to split touching nuclei. It
   overrides foreground at those pixels.

Strokes are ``thickness`` 1 or 2 px (2 = dilated within the allowed region). In 3D they are drawn within a
single z slice by default (``planar=True``, like scribbling in ilastik's slice views) while the allowed
regions are computed in 3D (``sampling`` = voxel size for anisotropic distances). Same inputs and seed
give the same scribbles.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from lineageflow.errors import InputError

FOREGROUND = 1
BACKGROUND = 2


def _walk(allowed: np.ndarray, start: np.ndarray, length: int, rng: np.random.Generator,
          walk_axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Smooth random walk of up to ``length`` distinct pixels inside ``allowed``, moving along ``walk_axes``."""
    ndim = allowed.ndim
    k = len(walk_axes)

    def random_dir():
        v = rng.normal(size=k)
        return v / (np.linalg.norm(v) or 1.0)

    pos = start.astype(float)
    d = random_dir()
    pixels = [tuple(int(v) for v in start)]
    seen = {pixels[0]}
    for _ in range(4 * length):
        if len(pixels) >= length:
            break
        moved = False
        for attempt in range(8):
            if attempt:
                d = random_dir()
            elif k >= 2:  # jitter the heading: smooth, slightly curved strokes
                d = d + rng.normal(scale=0.3, size=k)
                d /= np.linalg.norm(d) or 1.0
            nxt = pos.copy()
            nxt[list(walk_axes)] += d
            pix = tuple(int(round(v)) for v in nxt)
            if all(0 <= pix[i] < allowed.shape[i] for i in range(ndim)) and allowed[pix]:
                pos = nxt
                moved = True
                break
        if not moved:
            break
        pix = tuple(int(round(v)) for v in pos)
        if pix not in seen:
            seen.add(pix)
            pixels.append(pix)
    return pixels


def _paint(out: np.ndarray, pixels, allowed: np.ndarray, value: int, thickness: int, walk_axes) -> None:
    if not pixels:
        return
    stroke = np.zeros(allowed.shape, bool)
    stroke[tuple(np.array(pixels).T)] = True
    if thickness >= 2:  # one dilation step within the walking plane, clipped to the allowed region
        struct = np.zeros((3,) * allowed.ndim, bool)
        centre = (1,) * allowed.ndim
        struct[centre] = True
        for ax in walk_axes:
            for off in (0, 2):
                idx = list(centre)
                idx[ax] = off
                struct[tuple(idx)] = True
        stroke = ndimage.binary_dilation(stroke, struct, iterations=thickness - 1) & allowed
    out[stroke] = value


def _walk_axes(ndim: int, planar: bool) -> list[int]:
    return [ndim - 2, ndim - 1] if (ndim == 3 and planar) else list(range(ndim))


def sample_scribbles(
    gt_labels: np.ndarray,
    *,
    n_strokes_per_object: int = 1,
    stroke_length: int = 12,
    object_fraction: float = 0.5,
    background_strokes: int | None = None,
    min_distance_from_objects: float = 3.0,
    erosion: float = 2.0,
    thickness: int = 1,
    touching_boundaries: bool = True,
    planar: bool = True,
    sampling: Sequence[float] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Sparse labels (uint8: 0 unlabelled, 1 foreground, 2 background) from a 2D/3D GT label image.

    See the module docstring for the procedure.
    """
    gt = np.asarray(gt_labels)
    if gt.ndim not in (2, 3):
        raise InputError(f"scribbles need a 2D or 3D label image, got shape {gt.shape}")
    if gt.dtype.kind not in "biu":
        raise InputError(f"ground-truth labels must be integers, got {gt.dtype}")
    if thickness not in (1, 2):
        raise InputError(f"thickness must be 1 or 2, got {thickness}")
    rng = np.random.default_rng(seed)
    out = np.zeros(gt.shape, np.uint8)
    axes = _walk_axes(gt.ndim, planar)
    length = max(1, int(stroke_length))

    # 1. foreground strokes inside a subset of objects
    objects = ndimage.find_objects(gt.astype(np.int64, copy=False)) if gt.max() > 0 else []
    ids = [i + 1 for i, sl in enumerate(objects) if sl is not None]
    n_fg_strokes = 0
    if ids:
        n_pick = min(len(ids), max(1, int(round(object_fraction * len(ids)))))
        picked = sorted(rng.choice(ids, size=n_pick, replace=False).tolist())
        for lab in picked:
            sl = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in objects[lab - 1])
            mask = gt[sl] == lab
            dist = ndimage.distance_transform_edt(mask, sampling=sampling)
            allowed = dist > erosion
            if not allowed.any():
                allowed = dist >= dist.max()
            starts = np.argwhere(allowed)
            sub = np.zeros(mask.shape, np.uint8)
            for _ in range(n_strokes_per_object):
                start = starts[rng.integers(len(starts))]
                _paint(sub, _walk(allowed, start, length, rng, axes), allowed, FOREGROUND, thickness, axes)
                n_fg_strokes += 1
            view = out[sl]
            view[sub > 0] = FOREGROUND

    # 2. background strokes away from all objects
    n_bg = n_fg_strokes if background_strokes is None else int(background_strokes)
    if n_bg > 0:
        bg = gt == 0
        if bg.any():
            allowed = ndimage.distance_transform_edt(bg, sampling=sampling) >= max(min_distance_from_objects, 1e-9)
            if not ids:
                allowed = bg
            starts = np.argwhere(allowed)
            for _ in range(n_bg if len(starts) else 0):
                start = starts[rng.integers(len(starts))]
                _paint(out, _walk(allowed, start, length, rng, axes), allowed, BACKGROUND, thickness, axes)

    # 3. background on borders between touching objects
    if touching_boundaries and len(ids) > 1:
        _label_touching(gt, out, rng, length)
    return out


def _label_touching(gt: np.ndarray, out: np.ndarray, rng: np.random.Generator, length: int) -> None:
    """Label a piece of every object-object border as background."""
    pairs: dict[tuple[int, int], list[np.ndarray]] = {}
    for ax in range(gt.ndim):
        a = np.moveaxis(gt, ax, 0)
        lo, hi = a[:-1], a[1:]
        touch = (lo != hi) & (lo > 0) & (hi > 0)
        if not touch.any():
            continue
        idx = np.argwhere(touch)
        v_lo, v_hi = lo[touch], hi[touch]
        for side in (0, 1):
            pts = idx.copy()
            pts[:, 0] += side
            pts = np.insert(np.delete(pts, 0, axis=1), ax, pts[:, 0], axis=1)  # back to the original axis order
            keys = np.stack([np.minimum(v_lo, v_hi), np.maximum(v_lo, v_hi)], axis=1)
            for key in np.unique(keys, axis=0):
                sel = np.all(keys == key, axis=1)
                pairs.setdefault((int(key[0]), int(key[1])), []).append(pts[sel])
    for key in sorted(pairs):
        pts = np.unique(np.concatenate(pairs[key]), axis=0)
        centre = pts[rng.integers(len(pts))]
        near = pts[np.linalg.norm(pts - centre, axis=1) <= length / 2]
        out[tuple(near.T)] = BACKGROUND


def scribbles_from_gt(gt_frames: Sequence[np.ndarray], *, seed: int = 0, **kwargs) -> list[np.ndarray]:
    """:func:`sample_scribbles` for every frame, each with its own seed derived from ``seed`` and the index."""
    seeds = np.random.SeedSequence(seed).spawn(len(gt_frames))
    return [
        sample_scribbles(g, seed=int(s.generate_state(1)[0]), **kwargs) for g, s in zip(gt_frames, seeds)
    ]

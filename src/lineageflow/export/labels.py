"""Label images for exports: every object's pixels take a new value (its track id), one frame at a time, with
the checks every export needs (integer images of one shape, every exported object present in its frame)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ..errors import InputError

Frames = Callable[[int], np.ndarray] | Iterable[np.ndarray]


def _frames(label_frames: Frames, n_frames: int, where: str):
    if callable(label_frames):
        for t in range(n_frames):
            yield t, label_frames(t)
        return
    if hasattr(label_frames, "__len__") and len(label_frames) != n_frames:
        raise InputError(f"{where}: {len(label_frames)} label frames given for n_frames = {n_frames}")
    it = iter(label_frames)
    for t in range(n_frames):
        try:
            yield t, next(it)
        except StopIteration:
            raise InputError(f"{where}: label frames ran out at frame {t} of n_frames = {n_frames}") from None


def relabel(img: np.ndarray, labels: np.ndarray, values: np.ndarray, dtype) -> np.ndarray:
    """Pixels of object ``labels[i]`` become ``values[i]``; every other pixel (background, objects not listed)
    becomes 0."""
    if labels.size == 0:
        return np.zeros(img.shape, dtype)
    if img.dtype.itemsize <= 2:  # small label types: a lookup table over the whole value range is fastest
        offset = -int(np.iinfo(img.dtype).min)
        lut = np.zeros(1 << (8 * img.dtype.itemsize), dtype)
        fits = (labels + offset >= 0) & (labels + offset < lut.size)  # others cannot occur in img
        lut[labels[fits] + offset] = values[fits]
        return lut[img.astype(np.int64) + offset] if offset else lut[img]
    order = np.argsort(labels, kind="stable")
    labels, values = labels[order], values[order]
    flat = img.ravel().astype(np.int64)
    idx = np.searchsorted(labels, flat)
    idx[idx == labels.size] = 0
    hit = labels[idx] == flat
    return np.where(hit, values[idx], 0).astype(dtype).reshape(img.shape)


def relabelled_frames(label_frames: Frames, n_frames: int, objects: dict[int, tuple[np.ndarray, np.ndarray]],
                      dtype, where: str, ndim: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(t, relabelled image) for t = 0..n_frames-1. ``objects[t]`` = (labels, values) of frame t's exported
    objects; ``label_frames`` is a callable t -> image or an iterable in frame order. Raises InputError (naming
    ``where``) for a non-integer image, an image of another shape or dimensionality, or an object missing from
    its frame."""
    shape = None
    empty = (np.zeros(0, np.int64), np.zeros(0, dtype))
    for t, img in _frames(label_frames, n_frames, where):
        img = np.asarray(img)
        if img.dtype.kind not in "iu" or (ndim is not None and img.ndim != ndim):
            axes = f" with {ndim} axes" if ndim is not None else ""
            raise InputError(f"{where}: label image of frame {t} is {img.dtype} {img.shape}, not integer; "
                             f"expected an integer image{axes}")
        if shape is None:
            shape = img.shape
        elif img.shape != shape:
            raise InputError(f"{where}: label image of frame {t} has shape {img.shape}, frame 0 has {shape}")
        labels, values = objects.get(t, empty)
        out = relabel(img, labels, values, dtype)
        if values.size:
            present = np.isin(values, np.unique(out))
            if not present.all():
                raise InputError(f"{where}: object {int(labels[~present][0])} of frame {t} "
                                 f"(track {int(values[~present][0])}) is not in that frame's label image")
        yield t, out

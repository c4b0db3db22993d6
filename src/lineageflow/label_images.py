"""Label images given by the user: a CTC-style folder of one TIFF per frame, or one stack with a time axis.

A stack is what napari saves for a labels layer: one multi-page TIFF (t, y, x) or (t, z, y, x); an HDF5 file with
one dataset or a Zarr / OME-Zarr label image work too. A stack without axis metadata is read as t followed by the
movie's spatial axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from .errors import InputError
from .movie_formats import Movie, frame_number, list_frames, open_movie


def read_label_folder_frame(files, t: int, shape: tuple[int, ...]) -> np.ndarray:
    """Frame ``t`` of a label-image folder (``files``: a list or a dict by frame), checked against the movie's
    spatial shape."""
    path = files[t]
    try:
        arr = tifffile.imread(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read label image of frame {t}: {exc}") from exc
    return _checked(arr, shape, str(path))


def _checked(arr: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    if tuple(arr.shape) != tuple(shape):
        raise InputError(f"{where}: label image has shape {arr.shape} but the raw frames have {tuple(shape)}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{where}: label image has dtype {arr.dtype}; expected integer labels")
    return arr


@dataclass
class LabelImages:
    """Label images by frame, from a folder (``files``) or one stack (``stack``)."""

    source: str
    files: dict[int, Path] = field(default_factory=dict)
    stack: Movie | None = None

    @property
    def is_stack(self) -> bool:
        return self.stack is not None

    @property
    def frames(self) -> list[int]:
        """The frames that have a label image (every frame of a stack)."""
        return list(range(self.stack.n_frames)) if self.stack else sorted(self.files)

    def file_of(self, t: int) -> str:
        """The file holding frame ``t`` (the stack itself for a stack)."""
        return self.source if self.stack else str(self.files[t])

    def read(self, t: int, shape: tuple[int, ...]) -> np.ndarray:
        """Frame ``t``, checked against the movie's spatial shape and for integer labels."""
        if not self.stack:
            if t not in self.files:
                raise InputError(f"{self.source}: no label image for frame {t}")
            return read_label_folder_frame(self.files, t, shape)
        return _checked(self.stack.read(t), shape, f"{self.source} (frame {t})")

    def labelled_frames(self) -> list[int]:
        """Frames with at least one labelled pixel: every file of a folder; the non-empty frames of a stack
        (a napari labels layer spans the whole movie, unlabelled frames are all zero)."""
        if not self.stack:
            return sorted(self.files)
        return [t for t in range(self.stack.n_frames) if np.any(self.stack.read(t))]


def open_label_images(path: str | Path, *, what: str, ndim: int | None, n_frames: int | None = None,
                      sparse: bool = False) -> LabelImages:
    """Open label images for a movie of ``ndim`` spatial axes (None: 2D or 3D, as a stack's shape says). A folder holds tTTT.tif / maskTTT.tif / man_segTTT.tif
    files, numbered 0..n-1 without gaps unless ``sparse`` (then any frames); a file is one stack. With ``n_frames``
    the stack (or gap-free folder) must have exactly that many frames."""
    p = Path(path)
    if p.is_dir() and not _is_store(p):
        if sparse:
            files = {frame_number(f.name): f for f in p.iterdir() if frame_number(f.name) is not None}
            if not files:
                raise InputError(f"{p}: no label images tTTT.tif ({what})")
        else:
            files = dict(enumerate(list_frames(p, what=what)))
        labels = LabelImages(str(p), files=files)
        count = max(files) + 1
    else:
        labels = LabelImages(str(p), stack=_open_stack(p, what, ndim))
        count = labels.stack.n_frames
    if n_frames is not None and sparse and count > n_frames:
        raise InputError(f"{labels.file_of(count - 1)}: {what} has a label image for frame {count - 1} but the "
                         f"movie has only {n_frames} frames")
    if n_frames is not None and not sparse and count != n_frames:
        unit = "frames in the stack" if labels.is_stack else "label images"
        raise InputError(f"{p}: {what} has {count} {unit} but the movie has {n_frames} frames")
    return labels


def _is_store(p: Path) -> bool:
    from .movie_formats import is_zarr

    return is_zarr(p)


def _open_stack(p: Path, what: str, ndim: int | None) -> Movie:
    """A label stack read as a movie: axes from its metadata, else t + the movie's spatial axes."""
    if not p.exists():
        raise InputError(f"{p}: {what} does not exist")
    try:
        stack, first = open_movie(p, what=what), None
    except InputError as exc:
        stack, first = None, exc
    if stack is None or stack.n_channels:
        # no usable axis metadata, or a guessed channel axis (tifffile reads a plain (t, 3, y, x) stack as RGB)
        for guess in ["t" + "zyx"[-ndim:]] if ndim else ["tyx", "tzyx"]:
            try:
                stack = open_movie(p, axes=guess, what=what)
                break
            except InputError:
                continue
        if stack is None:
            raise first from None
    if stack.n_channels:
        raise InputError(f"{p}: {what} has {stack.n_channels} channels; a label image has none")
    if ndim is not None and stack.ndim != ndim:
        raise InputError(f"{p}: {what} is a {stack.ndim}D stack ({stack.n_frames} frames of shape "
                         f"{stack.spatial_shape}) but the movie is {ndim}D")
    if not np.issubdtype(stack.dtype, np.integer):
        raise InputError(f"{p}: {what} has dtype {stack.dtype}; expected integer labels")
    return stack

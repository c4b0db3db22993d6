"""Readers and writers for movies, probability maps, label chunks and object tables.

Canonical in-memory order: one frame is (y, x) or (z, y, x), with a trailing channel axis (…, C) where there
are channels. Movies may be a CTC folder of t*.tif, a multi-page TIFF, or an HDF5 dataset with an axes string.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import tifffile

from .atomic import atomic_path
from .errors import InputError

_FRAME_RE = re.compile(r"^(?:t|mask|man_seg|man_track)(\d+)\.tiff?$")
_AXES_RE = re.compile(r"^[tczyx]+$")


def recorded_path(path: str | Path, out: str | Path) -> str:
    """A path as written into a run's own files: relative to OUT when it lies inside OUT (the demo's movie, the CTC
    export), so two runs into different folders write the same bytes; else as given."""
    try:
        return Path(path).resolve().relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return str(path)


def frame_number(name: str) -> int | None:
    """Frame index of a CTC-style file name (t012.tif, mask012.tif, man_seg012.tif), or None."""
    m = _FRAME_RE.match(name)
    return int(m.group(1)) if m else None


def list_frames(folder: str | Path, what: str = "frames") -> list[Path]:
    """Files of a CTC-style folder sorted by frame number; frames must be numbered 0..n-1 without gaps."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: {what} folder does not exist")
    files = {}
    for p in folder.iterdir():
        n = frame_number(p.name)
        if n is not None:
            if n in files:
                raise InputError(f"{folder}: two files for frame {n}: {files[n].name} and {p.name}")
            files[n] = p
    if not files:
        raise InputError(f"{folder}: no frames found (expected files named tTTT.tif, maskTTT.tif or man_segTTT.tif)")
    missing = sorted(set(range(max(files) + 1)) - set(files))
    if missing:
        raise InputError(f"{folder}: frame(s) {', '.join(map(str, missing[:10]))} missing "
                         f"(found {len(files)} files numbered up to {max(files)})")
    return [files[i] for i in range(len(files))]


def normalize_axes(axes: str, ndim: int, source: str, key: str = "axes") -> str:
    """Check an axes string (case-insensitive) against a dataset's number of dimensions."""
    a = axes.lower()
    if not _AXES_RE.match(a) or len(set(a)) != len(a):
        raise InputError(f"{source}: config key '{key}' = {axes!r} is not a valid axes string "
                         "(letters from t, c, z, y, x, each at most once, e.g. tyx, tzyx, tczyx, txyz)")
    if len(a) != ndim:
        raise InputError(f"{source}: config key '{key}' = {axes!r} has {len(a)} axes but the data has {ndim} dimensions")
    for needed in "tyx":
        if needed not in a:
            raise InputError(f"{source}: config key '{key}' = {axes!r} lacks the '{needed}' axis")
    return a


def axes_from_axistags(attr) -> str | None:
    """ilastik/vigra axistags JSON → axes string, or None when absent."""
    if attr is None:
        return None
    if isinstance(attr, bytes):
        attr = attr.decode()
    try:
        return "".join(ax["key"] for ax in json.loads(attr)["axes"]).lower()
    except (ValueError, KeyError, TypeError):
        return None


def axistags_json(axes: str) -> str:
    """Axes string → ilastik/vigra axistags JSON (so ilastik reads our exports)."""
    flags = {"t": 8, "c": 1, "x": 2, "y": 2, "z": 2}
    return json.dumps({"axes": [{"key": a, "typeFlags": flags[a], "resolution": 0, "description": ""} for a in axes]},
                      indent=2)


@dataclass
class Movie:
    """A lazily read time-lapse. ``read(t)`` returns (y, x) or (z, y, x), plus a trailing channel axis if any."""

    source: str
    kind: str  # "ctc" | "tiff" | "hdf5"
    n_frames: int
    spatial_shape: tuple[int, ...]
    n_channels: int  # 0 = no channel axis
    dtype: np.dtype
    _files: list[Path] = field(default_factory=list, repr=False)
    _dataset: str = ""
    _axes: str = ""

    @property
    def ndim(self) -> int:
        return len(self.spatial_shape)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return self.spatial_shape + ((self.n_channels,) if self.n_channels else ())

    def read(self, t: int) -> np.ndarray:
        if not 0 <= t < self.n_frames:
            raise IndexError(f"{self.source}: frame {t} out of range 0..{self.n_frames - 1}")
        if self.kind == "ctc":
            path = self._files[t]
            try:
                arr = tifffile.imread(path)
            except Exception as exc:  # tifffile raises many types for corrupt files
                raise InputError(f"{path}: cannot read frame {t}: {exc}") from exc
            if arr.shape != self.frame_shape:
                raise InputError(f"{path}: frame {t} has shape {arr.shape}, but frame 0 has {self.frame_shape}; "
                                 "all frames must have the same shape")
            return arr
        if self.kind == "hdf5":
            with h5py.File(self._path, "r") as f:
                ds = f[self._dataset]
                index = tuple(t if a == "t" else slice(None) for a in self._axes)
                arr = ds[index]
            rest = self._axes.replace("t", "")
            return _to_canonical(arr, rest)
        # multi-page TIFF through its zarr view: only this frame's pages are read
        import zarr

        store = tifffile.imread(self._path, aszarr=True)
        try:
            z = zarr.open(store, mode="r")
            index = tuple(t if a == "t" else slice(None) for a in self._axes)
            arr = np.asarray(z[index])
        finally:
            store.close()
        return _to_canonical(arr, self._axes.replace("t", ""))

    @property
    def _path(self) -> str:
        return self.source


def _to_canonical(arr: np.ndarray, axes: str) -> np.ndarray:
    """Transpose a frame with the given axes (no t) to (z, y, x[, c]) order, dropping absent axes."""
    order = [a for a in "zyxc" if a in axes]
    arr = np.transpose(arr, [axes.index(a) for a in order])
    if "c" in axes and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr


def _canonical_shape(shape: tuple[int, ...], axes: str) -> tuple[tuple[int, ...], int]:
    spatial = tuple(shape[axes.index(a)] for a in "zyx" if a in axes)
    nc = shape[axes.index("c")] if "c" in axes else 0
    return spatial, (0 if nc == 1 else nc)


def open_movie(path: str | Path, *, dataset: str = "", axes: str = "", what: str = "input") -> Movie:
    """Open a movie: a CTC folder of t*.tif, a multi-page TIFF, or an HDF5 file (``dataset`` + ``axes``)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {what} does not exist")
    if p.is_dir():
        files = list_frames(p, what=f"{what} frames")
        try:
            with tifffile.TiffFile(files[0]) as tf:
                first = tf.series[0]
                shape, dtype = tuple(first.shape), first.dtype
        except Exception as exc:
            raise InputError(f"{files[0]}: cannot read frame 0: {exc}") from exc
        if len(shape) not in (2, 3):
            raise InputError(f"{files[0]}: frame has shape {shape}; expected (y, x) or (z, y, x)")
        return Movie(str(p), "ctc", len(files), shape, 0, np.dtype(dtype), _files=files)
    suffix = p.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf", ".ilp"):
        try:
            f = h5py.File(p, "r")
        except OSError as exc:
            raise InputError(f"{p}: cannot open as HDF5: {exc}") from exc
        with f:
            if not dataset:
                keys = [k for k in f if isinstance(f[k], h5py.Dataset)]
                if len(keys) != 1:
                    raise InputError(f"{p}: config key 'dataset' is empty and the file has datasets {keys}; name one")
                dataset = keys[0]
            if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
                raise InputError(f"{p}: no dataset {dataset!r} (config key 'dataset')")
            ds = f[dataset]
            found = axes or axes_from_axistags(ds.attrs.get("axistags"))
            if not found:
                raise InputError(f"{p}:{dataset} has no ilastik axistags; set config key 'axes' (e.g. tyx, tzyx, tczyx)")
            try:
                a = normalize_axes(found, ds.ndim, f"{p}:{dataset}")
            except InputError as exc:
                if axes:
                    raise
                raise InputError(f"{p}:{dataset}: its ilastik axistags give axes {found!r}, which do not fit the data "
                                 f"of shape {ds.shape}; set config key 'axes' (e.g. tyx, tzyx, tczyx)") from exc
            spatial, nc = _canonical_shape(ds.shape, a)
            return Movie(str(p), "hdf5", ds.shape[a.index("t")], spatial, nc, ds.dtype, _dataset=dataset, _axes=a)
    if suffix in (".tif", ".tiff"):
        try:
            with tifffile.TiffFile(p) as tf:
                s = tf.series[0]
                shape, dtype, meta_axes = tuple(s.shape), s.dtype, s.axes.lower()
        except Exception as exc:
            raise InputError(f"{p}: cannot read as TIFF: {exc}") from exc
        # tifffile names a plain page stack 'q'/'i'; read it as time, the usual multi-page time-lapse
        guess = meta_axes.replace("q", "t").replace("i", "t").replace("s", "c")
        try:
            a = normalize_axes(axes or guess, len(shape), str(p))
        except InputError as exc:
            if axes:
                raise
            raise InputError(f"{p}: cannot tell the axis order from the TIFF metadata (axes {meta_axes.upper()!r}, "
                             f"shape {shape}); set config key 'axes' (e.g. tyx, tzyx, tczyx)") from exc
        spatial, nc = _canonical_shape(shape, a)
        return Movie(str(p), "tiff", shape[a.index("t")], spatial, nc, np.dtype(dtype), _axes=a)
    raise InputError(f"{p}: unknown {what} format (expected a folder of t*.tif, a .tif/.tiff or an .h5/.hdf5 file)")


def read_label_folder_frame(files: list[Path], t: int, shape: tuple[int, ...]) -> np.ndarray:
    """Frame ``t`` of a label-image folder, checked against the movie's spatial shape."""
    path = files[t]
    try:
        arr = tifffile.imread(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read label image of frame {t}: {exc}") from exc
    if tuple(arr.shape) != tuple(shape):
        raise InputError(f"{path}: label image has shape {arr.shape} but the raw frames have {tuple(shape)}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{path}: label image has dtype {arr.dtype}; expected integer labels")
    return arr


# --- chunk files -------------------------------------------------------------------------------------------------

def write_probabilities(path: str | Path, probs: np.ndarray, *, t0: int) -> None:
    """Write a chunk of probabilities (t, [z,] y, x, c) as ilastik does: HDF5 dataset ``exported_data`` + axistags."""
    axes = "tzyxc" if probs.ndim == 5 else "tyxc"
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            ds = f.create_dataset("exported_data", data=probs.astype(np.float32), compression="gzip",
                                  compression_opts=1, chunks=(1,) + probs.shape[1:], track_times=False)
            ds.attrs["axistags"] = axistags_json(axes)
            ds.attrs["axes"] = axes
            ds.attrs["t0"] = int(t0)


def write_label_chunk(path: str | Path, labels: np.ndarray, *, t0: int) -> None:
    """Write a chunk of label images (t, [z,] y, x) uint32 to HDF5 dataset ``labels``."""
    axes = "tzyx" if labels.ndim == 4 else "tyx"
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            ds = f.create_dataset("labels", data=labels.astype(np.uint32), compression="gzip", compression_opts=1,
                                  chunks=(1,) + labels.shape[1:], track_times=False)
            ds.attrs["axistags"] = axistags_json(axes)
            ds.attrs["axes"] = axes
            ds.attrs["t0"] = int(t0)


def read_chunk(path: str | Path, dataset: str) -> tuple[np.ndarray, int]:
    """Read a chunk file written above; returns (array, t0)."""
    try:
        with h5py.File(path, "r") as f:
            ds = f[dataset]
            return ds[()], int(ds.attrs["t0"])
    except (OSError, KeyError) as exc:
        raise InputError(f"{path}: not a lineageflow {dataset} chunk: {exc}") from exc


class LabelChunks:
    """Label image of any frame, read from per-chunk HDF5 files (one chunk in memory at a time)."""

    def __init__(self, paths):
        self.paths, self._arr, self._t0 = [str(p) for p in paths], None, 0

    def __call__(self, t: int) -> np.ndarray:
        if self._arr is None or not self._t0 <= t < self._t0 + len(self._arr):
            for path in self.paths:
                arr, t0 = read_chunk(path, "labels")
                if t0 <= t < t0 + len(arr):
                    self._arr, self._t0 = arr, t0
                    break
            else:
                raise InputError(f"no label chunk holds frame {t} (chunks: {', '.join(self.paths)})")
        return self._arr[t - self._t0]


def write_table(path: str | Path, df: pd.DataFrame, metadata: dict | None = None) -> None:
    """Write an object table as Parquet, with lineageflow metadata (e.g. which movie it came from)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"lineageflow"] = json.dumps(metadata or {}, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Read an object table and its lineageflow metadata."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read object table: {exc}") from exc
    meta = json.loads((table.schema.metadata or {}).get(b"lineageflow", b"{}"))
    return table.to_pandas(), meta


def read_tables(paths, expected: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Concatenate chunk tables, refusing a table from another dataset (shape, frames, voxel size differ)."""
    from .annotations import check_same_dataset

    frames, meta0 = [], None
    for path in paths:
        df, meta = read_table(path)
        ref = expected if expected is not None else meta0
        if ref is not None:
            check_same_dataset(ref, meta, str(path))
        meta0 = meta0 or meta
        frames.append(df)
    if not frames:
        raise InputError("no object tables given")
    return pd.concat(frames, ignore_index=True), meta0

"""Readers and writers for probability maps, label chunks and object tables; the movie readers' public names.

Movies (CTC folders, multi-page TIFF, HDF5, Zarr / OME-Zarr, vendor files) are read by lineageflow.movie_formats,
user label images by lineageflow.label_images; their names stay importable from here.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .atomic import atomic_path
from .errors import InputError
from .label_images import LabelImages, open_label_images, read_label_folder_frame  # noqa: F401  (public names)
from .movie_formats import (  # noqa: F401  (public names)
    Movie,
    axes_from_axistags,
    frame_number,
    list_frames,
    normalize_axes,
    open_movie,
)


def recorded_path(path: str | Path, out: str | Path) -> str:
    """A path as written into a run's own files: relative to OUT when it lies inside OUT (the demo's movie, the CTC
    export), so two runs into different folders write the same bytes; else as given."""
    try:
        return Path(path).resolve().relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return str(path)


def axistags_json(axes: str) -> str:
    """Axes string → ilastik/vigra axistags JSON (so ilastik reads our exports)."""
    flags = {"t": 8, "c": 1, "x": 2, "y": 2, "z": 2}
    return json.dumps({"axes": [{"key": a, "typeFlags": flags[a], "resolution": 0, "description": ""} for a in axes]},
                      indent=2)


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

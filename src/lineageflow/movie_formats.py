"""Movie readers: CTC folders of t*.tif, multi-page TIFF, HDF5, Zarr / OME-Zarr, and vendor files through bioio.

Canonical in-memory order: one frame is (y, x) or (z, y, x), with a trailing channel axis (…, C) where there
are channels. A movie carries the voxel size its file's metadata gives (OME-Zarr scale, vendor pixel sizes), in
micrometres, or None where the format or the file says nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import tifffile

from .errors import InputError

_FRAME_RE = re.compile(r"^(?:t|mask|man_seg|man_track)(\d+)\.tiff?$")
_AXES_RE = re.compile(r"^[tczyx]+$")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".ilp")
TIFF_SUFFIXES = (".tif", ".tiff")
# vendor formats read through bioio: suffix → the bioio plugin that reads it
VENDOR_PLUGINS = {".nd2": "bioio-nd2", ".czi": "bioio-czi", ".lif": "bioio-lif"}


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


@dataclass
class Movie:
    """A lazily read time-lapse. ``read(t)`` returns (y, x) or (z, y, x), plus a trailing channel axis if any."""

    source: str
    kind: str  # "ctc" | "tiff" | "hdf5" | "zarr" | "bioio"
    n_frames: int
    spatial_shape: tuple[int, ...]
    n_channels: int  # 0 = no channel axis
    dtype: np.dtype
    _files: list[Path] = field(default_factory=list, repr=False)
    _dataset: str = ""  # HDF5 dataset, array path inside a zarr store, or bioio scene
    _axes: str = ""
    voxel_size: tuple[float, ...] | None = None  # (z,) y, x in micrometres from the file's metadata; None = not given
    metadata_note: str = ""  # why the metadata's scale was not used, when it was not
    _reader: str = ""  # the bioio plugin that reads the file

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
        rest = self._axes.replace("t", "")
        if self.kind == "bioio":
            return _to_canonical(_bioio_frame(self.source, self._dataset, self._reader, rest, t), rest)
        index = tuple(t if a == "t" else slice(None) for a in self._axes)
        if self.kind == "hdf5":
            with h5py.File(self._path, "r") as f:
                arr = f[self._dataset][index]
            return _to_canonical(arr, rest)
        import zarr

        if self.kind == "zarr":
            arr = np.asarray(zarr.open_array(self._path, path=self._dataset, mode="r")[index])
            return _to_canonical(arr, rest)
        # multi-page TIFF through its zarr view: only this frame's pages are read
        store = tifffile.imread(self._path, aszarr=True)
        try:
            arr = np.asarray(zarr.open(store, mode="r")[index])
        finally:
            store.close()
        return _to_canonical(arr, rest)

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


def _checked_axes(found: str, shape: tuple[int, ...], source: str, given: str, origin: str) -> str:
    """The axes to use: ``given`` (config key 'axes') when set, else ``found`` from the file's metadata."""
    try:
        return normalize_axes(given or found, len(shape), source)
    except InputError as exc:
        if given:
            raise
        raise InputError(f"{source}: {origin} {found!r}, which do not fit the data of shape {shape}; "
                         "set config key 'axes' (e.g. tyx, tzyx, tczyx)") from exc


def is_zarr(path: Path) -> bool:
    """A Zarr store (v2 or v3) or a folder named *.zarr."""
    return path.suffix.lower() == ".zarr" or any((path / m).is_file() for m in ("zarr.json", ".zgroup", ".zarray"))


def open_movie(path: str | Path, *, dataset: str = "", axes: str = "", what: str = "input") -> Movie:
    """Open a movie: a CTC folder of t*.tif, a multi-page TIFF, an HDF5 file (``dataset`` + ``axes``), a Zarr /
    OME-Zarr store, or an ND2 / CZI / LIF file (through bioio)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {what} does not exist")
    suffix = p.suffix.lower()
    if p.is_dir() and is_zarr(p):
        from .zarr_movie import open_zarr_movie

        return open_zarr_movie(p, dataset=dataset, axes=axes)
    if p.is_dir():
        return _open_ctc(p, what)
    if suffix in HDF5_SUFFIXES:
        return _open_hdf5(p, dataset, axes)
    if suffix in TIFF_SUFFIXES:
        return _open_tiff(p, axes)
    if suffix in VENDOR_PLUGINS:
        return open_bioio_movie(p, scene=dataset, plugin=VENDOR_PLUGINS[suffix])
    raise InputError(f"{p}: unknown {what} format (expected a folder of t*.tif, a .tif/.tiff, an .h5/.hdf5 file, "
                     "a .zarr store or an .nd2/.czi/.lif file)")


def _open_ctc(p: Path, what: str) -> Movie:
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


def _open_hdf5(p: Path, dataset: str, axes: str) -> Movie:
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
        a = _checked_axes(found, ds.shape, f"{p}:{dataset}", axes, "its ilastik axistags give axes")
        spatial, nc = _canonical_shape(ds.shape, a)
        return Movie(str(p), "hdf5", ds.shape[a.index("t")], spatial, nc, ds.dtype, _dataset=dataset, _axes=a)


def _open_tiff(p: Path, axes: str) -> Movie:
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


# --- vendor formats through bioio ---------------------------------------------------------------------------------

def _bioio_image(path: str | Path, scene: str, plugin: str = ""):
    """A bioio BioImage of ``path`` on ``scene`` (its first when empty), with the plugin's reader named explicitly."""
    plugin = plugin or VENDOR_PLUGINS.get(Path(path).suffix.lower(), "")
    module = plugin.replace("-", "_")
    try:
        import importlib

        from bioio import BioImage

        reader = importlib.import_module(module).Reader if module else None
    except ImportError as exc:
        raise InputError(f"{path}: reading this file needs bioio and its plugin {plugin or 'for this format'}, which "
                         f"are not installed ({exc}); install them with: pip install \"lineageflow[vendor]\"") from exc
    try:
        img = BioImage(path, reader=reader) if reader else BioImage(path)
    except Exception as exc:  # the plugins raise their own types for files they cannot parse
        raise InputError(f"{path}: cannot read with bioio ({plugin}): {exc}") from exc
    scenes = list(img.scenes)
    if scene:
        if scene not in scenes:
            raise InputError(f"{path}: no scene {scene!r} (config key 'dataset'); the file has scenes {scenes}")
        img.set_scene(scene)
    elif len(scenes) > 1:
        raise InputError(f"{path}: the file holds {len(scenes)} scenes {scenes[:10]}; name the one to track with "
                         "config key 'dataset'")
    return img


def open_bioio_movie(path: str | Path, *, scene: str = "", plugin: str = "") -> Movie:
    """A movie read through bioio, whose images are always T, C, Z, Y, X (plus S for RGB samples): a Z or C of
    length 1 is dropped, and the physical pixel sizes (micrometres in bioio) become the voxel size."""
    img = _bioio_image(path, scene, plugin)
    dims = img.dims
    if "S" in dims.order and dims.S > 1:
        raise InputError(f"{path}: RGB samples ({dims.S} per pixel) are not supported; export one channel")
    axes = "t" + "".join(a for a in "czyx" if a in "yx" or getattr(dims, a.upper()) > 1)
    shape = tuple(getattr(dims, a.upper()) for a in axes)
    spatial, nc = _canonical_shape(shape, axes)
    sizes = img.physical_pixel_sizes
    per_axis = {"z": sizes.Z, "y": sizes.Y, "x": sizes.X}
    wanted = [per_axis[a] for a in "zyx" if a in axes]
    voxel = tuple(float(v) for v in wanted) if all(v for v in wanted) else None
    note = "" if voxel else f"{path}: bioio gives no physical pixel size for every axis ({sizes})"
    return Movie(str(path), "bioio", shape[0], spatial, nc, np.dtype(img.dtype), _dataset=scene or img.current_scene,
                 _axes=axes, voxel_size=voxel, metadata_note=note, _reader=plugin)


def _bioio_frame(path: str, scene: str, plugin: str, axes: str, t: int) -> np.ndarray:
    img = _bioio_image(path, scene, plugin)
    dropped = {a: 0 for a in "CZ" if a.lower() not in axes}  # length-1 axes the movie does not have
    return np.asarray(img.get_image_data(axes.upper(), T=t, **dropped))

"""Zarr movies: OME-Zarr images (OME-NGFF v0.4 on Zarr v2, v0.5 on Zarr v3) and plain Zarr arrays.

An OME-Zarr image is read at its full resolution (the first multiscales dataset); its axes come from the metadata's
axis names and types, and its voxel size from that level's scale (times the image-wide scale, if any), converted to
micrometres. A plain array needs config key 'axes' unless it names its dimensions (Zarr v3 dimension_names, or
xarray's _ARRAY_DIMENSIONS on Zarr v2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError
from .movie_formats import Movie, _canonical_shape, _checked_axes

# OME-NGFF space units (UDUNITS-2 names) and common abbreviations → micrometres
_MICROMETRES = {"angstrom": 1e-4, "picometer": 1e-6, "nanometer": 1e-3, "micrometer": 1.0, "millimeter": 1e3,
                "centimeter": 1e4, "decimeter": 1e5, "meter": 1e6, "micron": 1.0, "um": 1.0, "µm": 1.0, "nm": 1e-3,
                "mm": 1e3}
_TYPE_LETTER = {"time": "t", "channel": "c"}


def _open_node(p: Path):
    import zarr

    if (p / "zarr.json").is_file() and int(zarr.__version__.split(".")[0]) < 3:
        raise InputError(f"{p}: a Zarr v3 store (OME-Zarr 0.5) needs zarr >= 3; this environment has zarr "
                         f"{zarr.__version__}")
    try:
        return zarr.open(str(p), mode="r")
    except Exception as exc:  # zarr raises several types for folders that are not stores
        raise InputError(f"{p}: cannot open as a Zarr store: {exc}") from exc


def multiscales(attrs) -> list | None:
    """The OME-NGFF multiscales list of a group's attributes: under 'ome' (v0.5) or at the top (v0.4), or None."""
    ome = attrs.get("ome")
    if isinstance(ome, dict) and "multiscales" in ome:
        return ome["multiscales"]
    return attrs.get("multiscales")


def open_zarr_movie(p: Path, *, dataset: str = "", axes: str = "") -> Movie:
    """Open a Zarr store as a movie. ``dataset`` picks a resolution level of an OME-Zarr image (its path), or the
    array inside a plain group; ``axes`` (config key 'axes') overrides the metadata's axis order."""
    import zarr

    node = _open_node(p)
    if isinstance(node, zarr.Array):
        if dataset:
            raise InputError(f"{p} is one Zarr array; config key 'dataset' = {dataset!r} must be empty")
        return _plain_array(p, "", node, axes)
    prefix, group = "", node
    if multiscales(group.attrs) is None and "0" in group and multiscales(group["0"].attrs):
        prefix, group = "0/", group["0"]  # bioformats2raw layout: the first image is series 0
    found = multiscales(group.attrs)
    if found:
        level = dataset[len(prefix):] if prefix and dataset.startswith(prefix) else dataset  # as Movie records it
        return _ome_image(p, prefix, group, found[0], level, axes)
    arrays = sorted(k for k, v in group.arrays())
    if not dataset:
        if len(arrays) != 1:
            raise InputError(f"{p}: a Zarr group without OME-Zarr metadata and with arrays {arrays}; name one with "
                             "config key 'dataset'")
        dataset = arrays[0]
    if dataset not in group or not isinstance(group[dataset], zarr.Array):
        raise InputError(f"{p}: no Zarr array {dataset!r} (config key 'dataset'); the group has arrays {arrays}")
    return _plain_array(p, dataset, group[dataset], axes)


def _dimension_names(arr) -> str:
    """Axis letters from a plain array's own dimension names (Zarr v3, or xarray's attribute on v2), or ''."""
    names = getattr(arr.metadata, "dimension_names", None) or arr.attrs.get("_ARRAY_DIMENSIONS")
    if not names or any(n is None for n in names):
        return ""
    letters = "".join(str(n).lower() for n in names)
    return letters if len(letters) == len(names) else ""


def _plain_array(p: Path, path: str, arr, axes: str) -> Movie:
    source = f"{p}/{path}" if path else str(p)
    found = _dimension_names(arr)
    if not (axes or found):
        raise InputError(f"{source}: a Zarr array without OME-Zarr metadata or dimension names; set config key "
                         "'axes' (e.g. tyx, tzyx, tczyx)")
    a = _checked_axes(found, tuple(arr.shape), source, axes, "its dimension names give axes")
    spatial, nc = _canonical_shape(tuple(arr.shape), a)
    return Movie(str(p), "zarr", arr.shape[a.index("t")], spatial, nc, np.dtype(arr.dtype), _dataset=path, _axes=a)


def _ome_image(p: Path, prefix: str, group, image: dict, dataset: str, axes: str) -> Movie:
    levels = image.get("datasets") or []
    paths = [str(d.get("path")) for d in levels]
    if not levels:
        raise InputError(f"{p}: OME-Zarr multiscales metadata lists no datasets")
    level = levels[paths.index(dataset)] if dataset in paths else levels[0]
    if dataset and dataset not in paths:
        raise InputError(f"{p}: config key 'dataset' = {dataset!r} is not a resolution level of this OME-Zarr "
                         f"image (levels {paths}); leave it empty for the full resolution")
    if level["path"] not in group:
        raise InputError(f"{p}: OME-Zarr level {level['path']!r} is listed in the metadata but missing")
    arr = group[level["path"]]
    shape = tuple(arr.shape)
    source = f"{p}/{prefix}{level['path']}"
    ngff_axes = _ngff_axes(image.get("axes"), len(shape), source, need=not axes)
    a = _checked_axes("".join(l for l, _ in ngff_axes), shape, source, axes, "its OME-Zarr axes give")
    spatial, nc = _canonical_shape(shape, a)
    voxel, note = _voxel_size(image, level, [u for _, u in ngff_axes], a, source)
    return Movie(str(p), "zarr", shape[a.index("t")], spatial, nc, np.dtype(arr.dtype),
                 _dataset=f"{prefix}{level['path']}", _axes=a, voxel_size=voxel, metadata_note=note)


def _ngff_axes(axes, ndim: int, source: str, need: bool) -> list[tuple[str, str | None]]:
    """(letter, unit) per array dimension from NGFF axes (dicts with name/type/unit; plain names before v0.4;
    absent in v0.1/v0.2, which were always t, c, z, y, x)."""
    if axes is None:
        return [(a, None) for a in "tczyx"[-ndim:]] if ndim <= 5 else [("?", None)] * ndim
    out = []
    for ax in axes:
        ax = ax if isinstance(ax, dict) else {"name": ax}
        name, kind = str(ax.get("name", "")), str(ax.get("type", "")).lower()
        letter = name.lower() if len(name) == 1 and name.lower() in "tczyx" else _TYPE_LETTER.get(kind)
        if letter is None and need:
            raise InputError(f"{source}: OME-Zarr axis {name!r} (type {kind or 'unset'}) is not one of t, c, z, y, x; "
                             "set config key 'axes' to name every axis (e.g. tczyx)")
        out.append((letter or "?", ax.get("unit")))
    return out


def _scale_of(transforms) -> list[float] | None:
    for tr in transforms or []:
        if tr.get("type") == "scale" and "scale" in tr:
            return [float(v) for v in tr["scale"]]
    return None


def _voxel_size(image: dict, level: dict, units: list, axes: str, source: str) -> tuple[tuple | None, str]:
    """The level's physical voxel size (z,) y, x in micrometres, or None and the reason it cannot be used."""
    scale = _scale_of(level.get("coordinateTransformations"))
    if scale is None:
        return None, f"{source}: OME-Zarr metadata gives no scale"
    image_scale = _scale_of(image.get("coordinateTransformations"))  # applies after each level's own
    if image_scale is not None and len(image_scale) == len(scale):
        scale = [s * g for s, g in zip(scale, image_scale)]
    if len(scale) != len(axes):
        return None, f"{source}: OME-Zarr scale {scale} does not have one entry per axis ({axes})"
    voxel = []
    for letter in "zyx":
        if letter not in axes:
            continue
        i = axes.index(letter)
        unit = units[i] if i < len(units) else None
        factor = 1.0 if unit is None else _MICROMETRES.get(str(unit).lower())
        if factor is None:
            return None, f"{source}: OME-Zarr axis {letter} has unit {unit!r}, which is not a length lineageflow knows"
        voxel.append(scale[i] * factor)
    return tuple(voxel), ""

"""Read ilastik pixel-classification projects (.ilp, HDF5): feature selection, label names, raw data
locations and the user's sparse label scribbles.

Layout used (ilastik 1.3/1.4):

* ``FeatureSelections/{FeatureIds,Scales,SelectionMatrix,ComputeIn2d}`` → :class:`FeatureSpec`.
* ``Input Data/infos/laneNNNN/Raw Data/{filePath,axistags,shape,location}`` — ``filePath`` is relative to
  the .ilp folder, e.g. ``data/x.h5/exported_data`` (file + internal dataset); ``axistags`` is vigra JSON.
* ``PixelClassification/LabelSets/labelsNNN/blockNNNN`` — dense label blocks with a ``blockSlice`` attribute
  such as ``"[0:1,10:20,...]"`` in the block's own axis order (its ``axistags`` attribute, e.g. t,z,y,x,c,
  which may differ from the raw data's order); 0 = unlabelled, k = class k.
* ``PixelClassification/LabelNames``.

Labels are rebuilt in the raw data's axis order (without a channel axis); :func:`to_canonical` transposes
any array to our canonical (t, z, y, x[, c]).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lineageflow.errors import InputError
from lineageflow.filters import FeatureSpec

CANONICAL_AXES = "tzyx"
_CONTAINER_SUFFIXES = (".h5", ".hdf5", ".hdf", ".ilp", ".n5", ".zarr")


@dataclass
class IlpLane:
    """One input lane: where its raw data lives and its sparse labels (raw axis order, no channel axis)."""

    index: int
    raw_file: Path | None
    raw_dataset: str | None
    raw_axes: str
    raw_shape: tuple[int, ...] | None
    labels: np.ndarray | None
    nickname: str = ""

    @property
    def label_axes(self) -> str:
        return self.raw_axes.replace("c", "")

    def read_raw(self) -> np.ndarray:
        """The raw array in ``raw_axes`` order (HDF5 sources only)."""
        if self.raw_file is None:
            raise InputError(f"lane {self.index}: raw data location unknown")
        import h5py

        try:
            with h5py.File(self.raw_file, "r") as f:
                return f[self.raw_dataset or next(iter(f.keys()))][()]
        except (OSError, KeyError) as exc:
            raise InputError(f"cannot read raw data {self.raw_file}:{self.raw_dataset}: {exc}") from None

    def canonical_labels(self) -> np.ndarray:
        """Labels as (t, z, y, x), missing axes inserted with length 1."""
        if self.labels is None:
            raise InputError(f"lane {self.index} has no labels")
        return to_canonical(self.labels, self.label_axes)


@dataclass
class IlpProject:
    path: Path
    feature_spec: FeatureSpec
    label_names: list[str]
    lanes: list[IlpLane] = field(default_factory=list)
    ilastik_version: str = ""


def to_canonical(array: np.ndarray, axes: str, add_missing: bool = True) -> np.ndarray:
    """Transpose ``array`` with axis keys ``axes`` (e.g. "txyz", "tczyx") to (t, z, y, x) (+ c last if present).

    Missing t/z (and y/x) axes are inserted with length 1 when ``add_missing``.
    """
    axes = axes.lower()
    arr = np.asarray(array)
    if len(axes) != arr.ndim or len(set(axes)) != len(axes) or set(axes) - set("tzyxc"):
        raise InputError(f"axes {axes!r} do not describe an array of shape {arr.shape}")
    target = [a for a in CANONICAL_AXES if a in axes or add_missing] + (["c"] if "c" in axes else [])
    have = list(axes)
    for a in target:
        if a not in have:
            arr = arr[..., None]
            have.append(a)
    return np.transpose(arr, [have.index(a) for a in target])


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _axes_from_tags(tags) -> str:
    data = json.loads(_text(tags))
    return "".join(ax["key"] for ax in data["axes"]).lower()


def _parse_block_slice(text: str) -> list[slice]:
    parts = re.findall(r"(-?\d+)\s*:\s*(-?\d+)", text)
    if not parts:
        raise ValueError(f"bad blockSlice {text!r}")
    return [slice(int(a), int(b)) for a, b in parts]


def _resolve_location(project: Path, file_path: str) -> tuple[Path, str | None]:
    """'data/x.h5/exported_data' (relative to the project folder) → (file, internal dataset)."""
    p = Path(file_path)
    if not p.is_absolute():
        p = project.parent / p
    parts = p.parts
    for i in range(1, len(parts) + 1):
        head = Path(*parts[:i])
        if head.suffix.lower() in _CONTAINER_SUFFIXES or (head.is_file() and i < len(parts)):
            rest = "/".join(parts[i:])
            return head, (rest or None)
    return p, None


def read_pixel_classification_project(path) -> IlpProject:
    """Read an ilastik pixel-classification .ilp: feature spec, label names, lanes with raw location and labels.

    Raises :class:`InputError` naming the file if it is missing, not HDF5, not a pixel-classification project
    or holds no labels at all.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"ilastik project {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"ilastik project {path} is not a readable HDF5 file: {exc}") from None
    with f:
        workflow = _text(f["workflowName"][()]) if "workflowName" in f else ""
        if "PixelClassification" not in f or "FeatureSelections" not in f:
            raise InputError(
                f"{path} is not an ilastik pixel-classification project (workflow {workflow or 'unknown'!r})"
            )
        fs = f["FeatureSelections"]
        try:
            ids = [_text(x) for x in fs["FeatureIds"][()]]
            scales = [float(x) for x in fs["Scales"][()]]
            matrix = np.asarray(fs["SelectionMatrix"][()], dtype=bool)
            in2d = [bool(x) for x in fs["ComputeIn2d"][()]] if "ComputeIn2d" in fs else None
            spec = FeatureSpec.from_matrix(ids, scales, matrix, in2d)
        except Exception as exc:  # missing/odd datasets: say which file
            raise InputError(f"{path}: cannot read the feature selection: {exc}") from None

        pc = f["PixelClassification"]
        label_names = [_text(x) for x in pc["LabelNames"][()]] if "LabelNames" in pc else []

        lanes: list[IlpLane] = []
        infos = f.get("Input Data/infos")
        lane_keys = sorted(infos.keys()) if infos is not None else []
        for i, key in enumerate(lane_keys):
            raw = infos[key].get("Raw Data")
            if raw is None or "filePath" not in raw and "location" not in raw:
                lanes.append(IlpLane(i, None, None, "", None, None))
                continue
            axes = ""
            if "axistags" in raw:
                axes = _axes_from_tags(raw["axistags"][()])
            elif "axistags" in raw.attrs:
                axes = _axes_from_tags(raw.attrs["axistags"])
            shape = tuple(int(x) for x in raw["shape"][()]) if "shape" in raw else None
            location = _text(raw["location"][()]) if "location" in raw else "FileSystem"
            nickname = _text(raw["nickname"][()]) if "nickname" in raw else ""
            if location == "ProjectInternal":
                ds = "Input Data/local_data/" + _text(raw["datasetId"][()])
                rfile, rds = path, ds
            else:
                rfile, rds = _resolve_location(path, _text(raw["filePath"][()]))
            if (shape is None or not axes) and rfile.is_file() and rfile.suffix.lower() in (".h5", ".hdf5", ".ilp"):
                try:
                    with h5py.File(rfile, "r") as rf:
                        d = rf[rds]
                        shape = shape or tuple(d.shape)
                        if not axes and "axistags" in d.attrs:
                            axes = _axes_from_tags(d.attrs["axistags"])
                except (OSError, KeyError):
                    pass
            lanes.append(IlpLane(i, rfile, rds, axes, shape, None, nickname))

        label_sets = pc.get("LabelSets")
        n_labelled = 0
        for i, lane in enumerate(lanes):
            group = label_sets.get(f"labels{i:03d}") if label_sets is not None else None
            if group is None or not len(group):
                continue
            lane.labels = _assemble_labels(path, group, lane)
            n_labelled += int(np.count_nonzero(lane.labels))
        if n_labelled == 0:
            raise InputError(f"{path} holds no labels (no labelled pixel in PixelClassification/LabelSets)")
        version = _text(f["ilastikVersion"][()]) if "ilastikVersion" in f else ""
    return IlpProject(path, spec, label_names, lanes, version)


def _assemble_labels(path: Path, group, lane: IlpLane) -> np.ndarray:
    """Paste label blocks into a full volume in the raw axis order (channel axis dropped)."""
    blocks = []
    for name in sorted(group.keys()):
        ds = group[name]
        try:
            slices = _parse_block_slice(_text(ds.attrs["blockSlice"]))
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path}: label block {ds.name} has no usable blockSlice: {exc}") from None
        axes = _axes_from_tags(ds.attrs["axistags"]) if "axistags" in ds.attrs else lane.raw_axes
        if len(axes) != len(slices) or len(axes) != ds.ndim:
            raise InputError(f"{path}: label block {ds.name}: axes {axes!r} do not match blockSlice/shape")
        blocks.append((axes, slices, ds[()]))
    raw_axes = lane.raw_axes or blocks[0][0]
    lane.raw_axes = raw_axes
    out_axes = raw_axes.replace("c", "")
    if lane.raw_shape is not None and len(lane.raw_shape) == len(raw_axes):
        full = {a: n for a, n in zip(raw_axes, lane.raw_shape)}
    else:  # fall back to the labelled extent
        full = {}
        for axes, slices, _ in blocks:
            for a, s in zip(axes, slices):
                full[a] = max(full.get(a, 0), s.stop)
    shape = tuple(full.get(a, 1) for a in out_axes)
    labels = np.zeros(shape, np.uint8)
    for axes, slices, data in blocks:
        sl = dict(zip(axes, slices))
        if "c" in axes:  # labels have one channel
            data = np.take(data, 0, axis=axes.index("c"))
            axes = axes.replace("c", "")
        missing = [a for a in axes if a not in out_axes]
        for a in missing:  # a singleton axis the raw data lacks
            data = np.take(data, 0, axis=axes.index(a))
            axes = axes.replace(a, "")
        # reorder to the output order; output axes the block lacks become length-1 axes
        data = np.transpose(data, [axes.index(a) for a in out_axes if a in axes])
        data = data.reshape([data.shape[[a for a in out_axes if a in axes].index(a)] if a in axes else 1
                             for a in out_axes])
        view = labels[tuple(sl[a] if a in axes else slice(0, 1) for a in out_axes)]
        if view.shape != data.shape:
            raise InputError(f"{path}: label block of shape {data.shape} does not fit into labels of shape {shape}")
        nz = data != 0
        view[nz] = data[nz]
    return labels


def training_data(project: IlpProject) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(images, labels) of every labelled frame of every lane, ready for :func:`lineageflow.pixels.train`.

    Images are (z, y, x) — or (y, x) when the data has no z extent — with a trailing channel axis only when
    the raw data has more than one channel (then train with ``channels=True``); labels match spatially.
    """
    images, labels = [], []
    for lane in project.lanes:
        if lane.labels is None or not lane.labels.any():
            continue
        raw = to_canonical(lane.read_raw(), lane.raw_axes)  # t, z, y, x (, c)
        lab = lane.canonical_labels()
        if "c" in lane.raw_axes and raw.shape[-1] == 1:
            raw = raw[..., 0]
        spatial = raw.shape[1:4]
        if lab.shape[1:] != spatial:
            raise InputError(
                f"{project.path}: labels of lane {lane.index} have shape {lab.shape[1:]}, raw data {spatial}"
            )
        two_d = spatial[0] == 1
        for t in range(lab.shape[0]):
            if lab[t].any():
                images.append(raw[t, 0] if two_d else raw[t])
                labels.append(lab[t, 0] if two_d else lab[t])
    if not images:
        raise InputError(f"{project.path} holds no labels")
    return images, labels

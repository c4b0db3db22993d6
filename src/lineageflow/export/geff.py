"""GEFF export (Graph Exchange File Format, https://github.com/live-image-tracking-tools/geff) with the
segmentation it refers to, in one zarr store::

    lineage.zarr/
        tracks/        the geff graph (written and validated with the geff package)
        segmentation   uint32 label array (t, [z,] y, x): each object's pixels carry its CTC track id
                       (like the CTC masks, without their 16 bit limit); objects not in the lineage are erased

Nodes (ids 0..n-1 in (frame, label) order, like the MaMuT spot ids) have ``t`` (frame) and the physical
position ``z`` (3D), ``y``, ``x`` (micrometres, from the voxel size), ``seg_id`` (their value in
``segmentation``, = ``track_id``), ``label`` (their label in lineageflow's label images), ``track_id`` (CTC
track), ``tracklet_id`` (geff tracklet: a maximal non-branching path, i.e. a CTC track together with its gap
continuations; id = its first track's id), ``lineage_id``, ``parent_track``, ``merger_label``, ``radius`` (sphere of the object's volume;
the geff ``sphere`` property) and every other numeric object feature. Edges are the lineage's links (parent ->
child). Metadata: axes t/z/y/x with units, ``track_node_props`` (tracklet, lineage), ``related_objects`` (the
segmentation, type "labels", node_prop "seg_id"), and the segmentation's voxel size and shape twice: under
``extra.tracksdata`` (``scale``: spatial voxel size (z,) y, x; ``shape``: (t, (z,) y, x)), where tracksdata and
funtracks / motile_tracker read them (``Tracks.scale``), and under ``extra.lineageflow`` (scale and units per axis).
The positions are already physical, so the axes carry units and no ``scale``: geff readers that honour an axis
``scale`` (funtracks) multiply positions by it. The store is written frame by frame (memory: one frame) and is
deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError
from ..lineage import Lineage
from .labels import Frames, relabelled_frames

GRAPH = "tracks"
SEGMENTATION = "segmentation"
SPACE_UNIT = "micrometer"
_SKIP = {"frame", "pos_z", "pos_y", "pos_x", "spatial_ndim"}
_INT_IDS = ("label", "track_id", "lineage_id", "parent_track", "merger_label")


def tracklet_ids(tracks: pd.DataFrame) -> dict[int, int]:
    """geff tracklet of each CTC track: tracklets are maximal non-branching paths, so a track that is the only
    child of its parent (a gap continuation) belongs to its parent's tracklet. Id = the first track's id."""
    n_children = tracks.loc[tracks["P"] > 0, "P"].value_counts().to_dict()
    parent = dict(zip(tracks["L"].astype(int).tolist(), tracks["P"].astype(int).tolist()))
    begin = dict(zip(tracks["L"].astype(int).tolist(), tracks["B"].astype(int).tolist()))
    out: dict[int, int] = {}
    for tid in sorted(parent, key=lambda L: (begin[L], L)):  # parents begin before their children
        p = parent[tid]
        out[tid] = out[p] if p and n_children.get(p, 0) == 1 else tid
    return out


def _node_props(nodes: pd.DataFrame, ndim: int, voxel_size: Sequence[float]) -> dict[str, np.ndarray]:
    props: dict[str, np.ndarray] = {"t": nodes["frame"].to_numpy(np.int64)}
    for ax in ("zyx" if ndim == 3 else "yx"):
        props[ax] = nodes[f"pos_{ax}"].to_numpy(np.float64)
    props["seg_id"] = nodes["track_id"].to_numpy(np.int64)
    for col in _INT_IDS:
        if col in nodes.columns:
            props[col] = nodes[col].to_numpy(np.int64)
    if "merger_label" not in props:
        props["merger_label"] = np.zeros(len(nodes), np.int64)
    if "volume" in nodes.columns:
        vol = nodes["volume"].to_numpy(float)
    else:
        vol = nodes["size"].to_numpy(float) * float(np.prod(voxel_size)) if "size" in nodes.columns else None
    props["radius"] = (np.ones(len(nodes)) if vol is None else
                       np.sqrt(vol / math.pi) if ndim == 2 else np.cbrt(3.0 * vol / (4.0 * math.pi)))
    z_cols = {"centroid_z", "bbox_min_z", "bbox_max_z", "axis_0_z", "radius_2"} if ndim == 2 else set()
    for col in nodes.columns:
        if col in _SKIP or col in props or col in z_cols:
            continue
        kind = nodes[col].dtype.kind
        if kind in "iu":
            props[col] = nodes[col].to_numpy(np.int64)
        elif kind == "b":
            props[col] = nodes[col].to_numpy(bool)
        elif kind == "f":
            props[col] = nodes[col].to_numpy(np.float64)
    return props


def _segmentation_extra(voxel_size: list[float], shape: list[int], spatial_axes: str) -> dict:
    """The segmentation's scale and shape, for tracksdata/funtracks (``extra.tracksdata``, spatial-only scale as
    ``Tracks.scale`` stores it) and for any reader (``extra.lineageflow``, per axis with units)."""
    return {
        "tracksdata": {"scale": list(voxel_size), "shape": shape},
        "lineageflow": {"segmentation_scale": [1.0, *voxel_size], "segmentation_axes": ["t", *spatial_axes],
                        "segmentation_shape": shape, "segmentation_units": ["frame", *[SPACE_UNIT] * len(voxel_size)],
                        "space_unit": SPACE_UNIT, "time_unit": "frame"},
    }


def write_geff(
    lineage: Lineage,
    label_frames: Frames,
    n_frames: int,
    out: str | Path,
    *,
    voxel_size: Sequence[float],
) -> dict:
    """Write the zarr store ``out`` (see the module docstring), replacing it atomically; returns counts.

    ``label_frames``: each frame's label image (callable t -> array, or an iterable in frame order), in which
    object ``label`` of the lineage's node table is the object; ``voxel_size``: (y, x) or (z, y, x).
    The graph is validated with geff's structure and data validators (graph, tracklets, lineages, spheres).
    """
    import zarr
    from geff.core_io import read_to_memory, write_arrays
    from geff.validate.data import ValidationConfig, validate_data
    from geff_spec import Axis, GeffMetadata, RelatedObject

    out = Path(out)
    where = f"GEFF export to {out}"
    ndim = len(voxel_size)
    if ndim not in (2, 3) or not all(float(v) > 0 for v in voxel_size):
        raise InputError(f"{where}: voxel_size must be 2 or 3 positive numbers (config key 'voxel_size'), "
                         f"got {list(voxel_size)}")
    n_frames = int(n_frames)
    nodes = lineage.nodes.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    for col in ("track_id", "lineage_id", *(f"pos_{a}" for a in ("zyx" if ndim == 3 else "yx"))):
        if col not in nodes.columns:
            raise InputError(f"{where}: the lineage's object table lacks column {col!r}")
    if len(nodes) and int(nodes["frame"].max()) >= n_frames:
        raise InputError(f"{where}: the lineage has objects in frame {int(nodes['frame'].max())} but "
                         f"n_frames = {n_frames}")
    frame_of = nodes["frame"].to_numpy(np.int64)
    label_of = nodes["label"].to_numpy(np.int64)
    tid_of = nodes["track_id"].to_numpy(np.int64)
    node_of = {k: i for i, k in enumerate(zip(frame_of.tolist(), label_of.tolist()))}
    edges = sorted((node_of[u], node_of[v]) if u[0] < v[0] else (node_of[v], node_of[u])
                   for u, v in lineage.graph.edges())
    props = _node_props(nodes, ndim, voxel_size)
    tracklet_of = tracklet_ids(lineage.tracks)
    props["tracklet_id"] = np.array([tracklet_of[int(t)] for t in tid_of.tolist()], dtype=np.int64)
    vs = [float(v) for v in voxel_size]
    spatial_axes = "zyx" if ndim == 3 else "yx"

    with atomic_path(out) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        seg = None
        objects = {int(t): (g["label"].to_numpy(np.int64), g["track_id"].to_numpy(np.int64))
                   for t, g in nodes.groupby("frame", sort=True)}
        for t, relabelled in relabelled_frames(label_frames, n_frames, objects, np.uint32, where, ndim=ndim):
            if seg is None:
                chunks = (1, *(min(s, 1024 if ndim == 2 else 256) for s in relabelled.shape))
                seg = root.create_array(SEGMENTATION, shape=(n_frames, *relabelled.shape), chunks=chunks,
                                        dtype="uint32", fill_value=0)
                seg.attrs.update({"axes": ["t", *spatial_axes], "scale": [1.0, *vs],
                                  "units": ["frame", *[SPACE_UNIT] * ndim],
                                  "description": "lineageflow objects, pixel value = CTC track id (geff seg_id)"})
            seg[t] = relabelled
        if seg is None:
            raise InputError(f"{where}: no label frames (n_frames = {n_frames})")

        axes = [Axis(name="t", type="time", unit="frame", min=float(frame_of.min()) if len(nodes) else None,
                     max=float(frame_of.max()) if len(nodes) else None)]
        for ax in spatial_axes:
            vals = props[ax]
            axes.append(Axis(name=ax, type="space", unit=SPACE_UNIT, min=float(vals.min()) if len(vals) else None,
                             max=float(vals.max()) if len(vals) else None))
        metadata = GeffMetadata(
            directed=True, axes=axes, node_props_metadata={}, edge_props_metadata={}, sphere="radius",
            track_node_props={"tracklet": "tracklet_id", "lineage": "lineage_id"},
            related_objects=[RelatedObject(type="labels", path=f"../{SEGMENTATION}", node_prop="seg_id")],
            extra=_segmentation_extra(vs, [int(s) for s in seg.shape], spatial_axes),
        )
        node_ids = np.arange(len(nodes), dtype=np.uint64)
        edge_ids = np.asarray(edges, dtype=np.uint64).reshape(-1, 2)
        write_arrays(str(tmp / GRAPH), node_ids, {k: {"values": v, "missing": None} for k, v in props.items()},
                     edge_ids, {}, metadata, zarr_format=2)
        try:
            validate_data(read_to_memory(str(tmp / GRAPH)),
                          ValidationConfig(graph=True, sphere=True, lineage=True, tracklet=True))
        except ValueError as exc:  # a lineageflow bug, not a user error: say what geff found
            raise RuntimeError(f"{where}: geff validation failed: {exc}") from exc
    n_div = int((np.bincount(edge_ids[:, 0].astype(np.int64), minlength=len(nodes)) >= 2).sum()) if len(edges) else 0
    return {"n_nodes": len(nodes), "n_edges": len(edges), "n_divisions": n_div,
            "n_lineages": int(nodes["lineage_id"].nunique()) if len(nodes) else 0}

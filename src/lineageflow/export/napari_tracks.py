"""napari export: the lineage as napari's Tracks layer data, in a folder of three small files::

    tracks.csv   the layer's data array as a table: ``track_id, t, [z,] y, x`` (napari's ID, T, (Z), Y, X), one
                 row per object, sorted by track then frame; positions are pixel centroids, so the rows sit on the
                 label images and the raw movie as napari opens them
    graph.json   napari's ``graph``: each track that has a parent -> [its parent track] (CTC ``P``; a gap
                 continuation is a track with one parent, drawn like a division with one child)
    layer.json   keyword arguments of ``viewer.add_tracks``: ``scale`` (1 frame, then the voxel size in
                 micrometres, so an anisotropic 3D movie is shown at its physical proportions) and ``axis_labels``

Track ids are the CTC track ids (``ctc/`` masks, ``res_track.txt``, the GEFF ``seg_id``). Loading it::

    df = pandas.read_csv("napari/tracks.csv")
    graph = {int(k): v for k, v in json.load(open("napari/graph.json")).items()}
    viewer.add_tracks(df.to_numpy(), graph=graph, **json.load(open("napari/layer.json")))

The files are deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError
from ..lineage import Lineage

TRACKS_CSV = "tracks.csv"
GRAPH_JSON = "graph.json"
LAYER_JSON = "layer.json"


def tracks_table(nodes: pd.DataFrame, ndim: int) -> pd.DataFrame:
    """napari's tracks data (``track_id, t, [z,] y, x``, pixel centroids) of a lineage's object table."""
    axes = "zyx" if ndim == 3 else "yx"
    need = ["frame", "track_id", *(f"centroid_{a}" for a in axes)]
    missing = [c for c in need if c not in nodes.columns]
    if missing:
        raise InputError(f"napari export: the lineage's object table lacks columns {missing}")
    table = pd.DataFrame({"track_id": nodes["track_id"].to_numpy(np.int64), "t": nodes["frame"].to_numpy(np.int64),
                          **{a: nodes[f"centroid_{a}"].to_numpy(np.float64) for a in axes}})
    table = table.sort_values(["track_id", "t"], kind="stable").reset_index(drop=True)
    if table.duplicated(["track_id", "t"]).any():
        dup = table[table.duplicated(["track_id", "t"], keep=False)].iloc[0]
        raise InputError(f"napari export: track {int(dup['track_id'])} has two objects in frame {int(dup['t'])}")
    return table


def tracks_graph(tracks: pd.DataFrame) -> dict[int, list[int]]:
    """napari's ``graph`` of a CTC track table (columns L, B, E, P): child track -> [parent track]."""
    rows = tracks.sort_values("L")
    return {int(L): [int(P)] for L, P in zip(rows["L"], rows["P"]) if int(P) > 0}


def write_napari(lineage: Lineage, out_dir: str | Path, *, voxel_size: Sequence[float]) -> dict:
    """Write ``out_dir/{tracks.csv, graph.json, layer.json}`` (see the module docstring), replacing ``out_dir``
    atomically; returns counts for the log."""
    out_dir = Path(out_dir)
    ndim = len(voxel_size)
    if ndim not in (2, 3) or not all(float(v) > 0 for v in voxel_size):
        raise InputError(f"napari export to {out_dir}: voxel_size must be 2 or 3 positive numbers (config key "
                         f"'voxel_size'), got {list(voxel_size)}")
    table = tracks_table(lineage.nodes, ndim)
    graph = tracks_graph(lineage.tracks)
    known = set(table["track_id"].tolist())
    unknown = sorted(({p for ps in graph.values() for p in ps} | set(graph)) - known)
    if unknown:
        raise InputError(f"napari export to {out_dir}: tracks {unknown[:5]} of the track table have no objects")
    layer = {"scale": [1.0, *(float(v) for v in voxel_size)], "axis_labels": ["t", *("zyx" if ndim == 3 else "yx")]}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        table.to_csv(tmp / TRACKS_CSV, index=False, lineterminator="\n")
        (tmp / GRAPH_JSON).write_text(json.dumps({str(k): v for k, v in graph.items()}, indent=1) + "\n")
        (tmp / LAYER_JSON).write_text(json.dumps(layer, indent=1) + "\n")
    return {"n_points": len(table), "n_tracks": int(table["track_id"].nunique()), "n_graph_edges": len(graph)}

"""ilastik export: the two CSV tables ilastik's automatic tracking writes (data export, source "Tracking-Result"
with the CSV table option), with ilastik's file suffixes and column names, so scripts written for ilastik's output
read ours::

    exported_data_table.csv      one row per tracked object
    exported_data_divisions.csv  one row per division

Table columns, in order:

* ``object_id`` (row number, 0..n-1, in frame then label order, as ilastik numbers its rows), ``timestep``
  (frame), ``labelimage_oid`` (the object's label in lineageflow's label images, ``track/labels``),
  ``lineage_id`` and ``track_id`` (lineageflow's lineage id and CTC track id; a track ends at a division, where
  each child starts a track of its own, as in ilastik);
* ilastik's default and standard object features where lineageflow measures the same quantity, under ilastik's
  display names (spaces included; numpy's ``genfromtxt(names=True)`` turns them into ``Size_in_pixels`` etc.):
  ``Size in pixels``, ``Bounding Box Minimum_0..``, ``Bounding Box Maximum_0..`` (exclusive, as ilastik >= 1.3),
  ``Center of the object_0..`` (pixels; axis 0 is x, then y, then z, as in ilastik), ``Mean Intensity``,
  ``Variance of Intensity``, ``Minimum intensity``, ``Maximum intensity``, ``Total Intensity``,
  ``Skewness of Intensity``, ``Kurtosis of Intensity``.

Division columns (ilastik's automatic tracking): ``timestep`` (the parent's last frame), ``object_id``,
``lineage_id`` and ``track_id`` of the parent, ``child1_object_id, child1_track_id, child2_object_id,
child2_track_id`` (the daughters, in track id order; object ids are ``object_id`` of the table).

Unlike ilastik every row is a tracked cell (false detections are not exported) and ids start at 1. The files are
deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError
from ..lineage import Lineage

TABLE_CSV = "exported_data_table.csv"
DIVISIONS_CSV = "exported_data_divisions.csv"
ID_COLUMNS = ["object_id", "timestep", "labelimage_oid", "lineage_id", "track_id"]
DIVISION_COLUMNS = ["timestep", "object_id", "lineage_id", "track_id", "child1_object_id", "child1_track_id",
                    "child2_object_id", "child2_track_id"]
# lineageflow column -> ilastik's display name (vigra object features; vector features get _0, _1, ... in x, y, z).
FEATURE_COLUMNS = {
    "size": "Size in pixels",
    **{f"bbox_min_{a}": f"Bounding Box Minimum_{i}" for i, a in enumerate("xyz")},
    **{f"bbox_max_{a}": f"Bounding Box Maximum_{i}" for i, a in enumerate("xyz")},
    **{f"centroid_{a}": f"Center of the object_{i}" for i, a in enumerate("xyz")},
    "intensity_mean": "Mean Intensity",
    "intensity_var": "Variance of Intensity",
    "intensity_min": "Minimum intensity",
    "intensity_max": "Maximum intensity",
    "intensity_sum": "Total Intensity",
    "intensity_skew": "Skewness of Intensity",
    "intensity_kurtosis": "Kurtosis of Intensity",
}


def _sorted_nodes(nodes: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("frame", "label", "track_id", "lineage_id") if c not in nodes.columns]
    if missing:
        raise InputError(f"ilastik export: the lineage's object table lacks columns {missing} (run track_lineage)")
    return nodes.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)


def tracking_table(nodes: pd.DataFrame, ndim: int) -> pd.DataFrame:
    """ilastik's tracking table (see the module docstring) of a lineage's object table."""
    if ndim not in (2, 3):
        raise InputError(f"ilastik export: ndim must be 2 or 3, got {ndim!r}")
    df = _sorted_nodes(nodes)
    out = {"object_id": np.arange(len(df), dtype=np.int64), "timestep": df["frame"].to_numpy(np.int64),
           "labelimage_oid": df["label"].to_numpy(np.int64), "lineage_id": df["lineage_id"].to_numpy(np.int64),
           "track_id": df["track_id"].to_numpy(np.int64)}
    axes = "xy" if ndim == 2 else "xyz"
    for col, name in FEATURE_COLUMNS.items():
        if col in df.columns and (col[-2:] not in ("_x", "_y", "_z") or col[-1] in axes):
            out[name] = df[col].to_numpy()
    return pd.DataFrame(out)


def divisions_table(lineage: Lineage, table: pd.DataFrame) -> pd.DataFrame:
    """ilastik's divisions table: one row per object of the lineage with two children."""
    object_id = dict(zip(zip(table["timestep"].tolist(), table["labelimage_oid"].tolist()),
                         table["object_id"].tolist()))
    row_of = table.set_index("object_id")
    rows = []
    for parent in sorted(lineage.graph):
        children = list(lineage.graph.successors(parent))
        if len(children) < 2:
            continue
        if len(children) > 2:
            raise InputError(f"ilastik export: object {parent[1]} of frame {parent[0]} has {len(children)} "
                             "children; ilastik's divisions table has two")
        pid = object_id[parent]
        kids = sorted((int(row_of.at[object_id[c], "track_id"]), object_id[c]) for c in children)
        rows.append((parent[0], pid, int(row_of.at[pid, "lineage_id"]), int(row_of.at[pid, "track_id"]),
                     kids[0][1], kids[0][0], kids[1][1], kids[1][0]))
    return pd.DataFrame(rows, columns=DIVISION_COLUMNS, dtype=np.int64)


def write_ilastik(lineage: Lineage, out_dir: str | Path, *, ndim: int) -> dict:
    """Write ``out_dir/{exported_data_table.csv, exported_data_divisions.csv}``, replacing ``out_dir`` atomically;
    returns counts for the log."""
    table = tracking_table(lineage.nodes, ndim)
    divisions = divisions_table(lineage, table)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        table.to_csv(tmp / TABLE_CSV, index=False, na_rep="nan", lineterminator="\n")
        divisions.to_csv(tmp / DIVISIONS_CSV, index=False, lineterminator="\n")
    return {"n_objects": len(table), "n_divisions": len(divisions), "n_columns": table.shape[1]}

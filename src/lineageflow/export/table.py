"""CSV export: one row per object of the lineage, with ilastik's column names where ilastik has the quantity.

Columns, in order:

* ``frame, labelimageId, trackId, lineageId, parentTrackId, mergerLabelId`` — as in ilastik's tracking
  "CSV-Table" export: the object's label in the label images (``track/labels``), its CTC track id (``ctc/``
  masks and ``res_track.txt``), its lineage id (the lineage's root track), the parent track of its track (the
  CTC ``P``, on every object of the track; 0 for roots) and the label of the merged object it was split from
  (0 if it was not part of a merger). Unlike ilastik, ids start at 1 and every row is in a track.
* ``position_x, position_y[, position_z]`` — centroid in physical units (voxel size, micrometres).
* ilastik's names for the same quantities (pixels, vigra axis order x, y, z; bounding box maximum exclusive as
  in ilastik >= 1.3): ``Center_of_the_object_0..``, ``Bounding_Box_Minimum_0..``, ``Bounding_Box_Maximum_0..``,
  ``Size_in_pixels``, ``Mean_Intensity``, ``Variance_of_Intensity``, ``Minimum_intensity``,
  ``Maximum_intensity``, ``Skewness_of_Intensity``, ``Kurtosis_of_Intensity``, ``Total_Intensity``.
* every other column of the object table under its lineageflow name (``volume``, ``radius_0`` (physical, so not
  ilastik's RegionRadii), ``p_count_1``, ``p_division``, ...). Booleans are written as 0/1, NaN as ``NaN``.

In 2D the z columns are left out. Rows are sorted by frame and label; the file is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError

ID_COLUMNS = {  # ours -> ilastik's tracking CSV
    "frame": "frame",
    "label": "labelimageId",
    "track_id": "trackId",
    "lineage_id": "lineageId",
    "parent_track": "parentTrackId",
    "merger_label": "mergerLabelId",
}
# ilastik's display names (vigra_objfeats.fill_properties, spaces -> "_") of the same quantities.
ILASTIK_COLUMNS = {
    **{f"centroid_{a}": f"Center_of_the_object_{i}" for i, a in enumerate("xyz")},
    **{f"bbox_min_{a}": f"Bounding_Box_Minimum_{i}" for i, a in enumerate("xyz")},
    **{f"bbox_max_{a}": f"Bounding_Box_Maximum_{i}" for i, a in enumerate("xyz")},
    "size": "Size_in_pixels",
    "intensity_mean": "Mean_Intensity",
    "intensity_var": "Variance_of_Intensity",
    "intensity_min": "Minimum_intensity",
    "intensity_max": "Maximum_intensity",
    "intensity_skew": "Skewness_of_Intensity",
    "intensity_kurtosis": "Kurtosis_of_Intensity",
    "intensity_sum": "Total_Intensity",
}
_DROP = {"spatial_ndim"}


def objects_table(nodes: pd.DataFrame, ndim: int) -> pd.DataFrame:
    """The export table (see the module docstring) of a lineage's object table (``Lineage.nodes``)."""
    if ndim not in (2, 3):
        raise InputError(f"CSV export: ndim must be 2 or 3, got {ndim!r}")
    missing = [c for c in ("frame", "label", "track_id", "lineage_id", "parent_track") if c not in nodes.columns]
    if missing:
        raise InputError(f"CSV export: the lineage's object table lacks columns {missing} (run track_lineage)")
    axes = "xy" if ndim == 2 else "xyz"
    pos = [f"pos_{a}" for a in axes]
    if any(c not in nodes.columns for c in pos):
        raise InputError(f"CSV export: the lineage's object table lacks the physical position columns {pos}")
    df = nodes.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    if "merger_label" not in df.columns:  # lineages made before merger labels were recorded
        df = df.assign(merger_label=np.zeros(len(df), dtype=np.int64))
    z_cols = {"centroid_z", "bbox_min_z", "bbox_max_z", "pos_z", "axis_0_z", "radius_2"} if ndim == 2 else set()
    out = {new: df[old].astype(np.int64) for old, new in ID_COLUMNS.items()}
    out.update({f"position_{a}": df[f"pos_{a}"].astype(float) for a in axes})
    for old, new in ILASTIK_COLUMNS.items():
        if old in df.columns and old not in z_cols:
            out[new] = df[old]
    done = set(ID_COLUMNS) | set(ILASTIK_COLUMNS) | {"pos_x", "pos_y", "pos_z"} | _DROP | z_cols
    for col in df.columns:
        if col not in done and col not in out:
            out[col] = df[col]
    table = pd.DataFrame(out)
    for col in table.columns:
        if table[col].dtype.kind == "b":
            table[col] = table[col].astype(np.int64)
    return table


def write_objects_csv(nodes: pd.DataFrame, path: str | Path, *, ndim: int) -> pd.DataFrame:
    """Write :func:`objects_table` of ``nodes`` to ``path`` atomically; returns the table."""
    table = objects_table(nodes, ndim)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, na_rep="NaN", lineterminator="\n")
    return table

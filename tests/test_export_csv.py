"""CSV export: one row per object, ilastik's column names, ids that rebuild the lineage, deterministic, atomic."""

import os

import numpy as np
import pytest

from export_checks import LEADING, check_csv, small_lineage
from lineageflow.errors import InputError
from lineageflow.export.table import ID_COLUMNS, objects_table, write_objects_csv

@pytest.mark.parametrize("ndim", [2, 3])
def test_columns_ids_and_values(tmp_path, ndim):
    lin, labels, raw, vs = small_lineage(ndim)
    out = tmp_path / "csv" / "objects.csv"
    write_objects_csv(lin.nodes, out, ndim=ndim)
    table = check_csv(out, lin, ndim)
    for name in ("Bounding_Box_Minimum_0", "Bounding_Box_Maximum_0", "Size_in_pixels", "Mean_Intensity",
                 "Variance_of_Intensity", "Minimum_intensity", "Maximum_intensity", "Skewness_of_Intensity",
                 "Kurtosis_of_Intensity", "Total_Intensity", "volume", "radius_0", "p_count_0", "touches_border"):
        assert name in table.columns, name
    assert ("Center_of_the_object_2" in table.columns) == (ndim == 3)
    assert "spatial_ndim" not in table.columns and "pos_x" not in table.columns
    # values: physical position, pixel centre in x, y, z order, ilastik's exclusive bounding box, the object's pixels
    row = table[(table["frame"] == 6) & (table["labelimageId"] == 7)].iloc[0]
    node = lin.nodes[(lin.nodes["frame"] == 6) & (lin.nodes["label"] == 7)].iloc[0]
    assert row["position_x"] == pytest.approx(node["pos_x"]) and row["position_y"] == pytest.approx(node["pos_y"])
    assert row["Center_of_the_object_0"] == pytest.approx(node["centroid_x"])
    assert row["Center_of_the_object_1"] == pytest.approx(node["centroid_y"])
    mask = labels[6] == 7
    idx = np.argwhere(mask)
    assert row["Size_in_pixels"] == mask.sum() == 3**ndim
    assert row["Bounding_Box_Minimum_0"] == idx[:, -1].min() and row["Bounding_Box_Maximum_0"] == idx[:, -1].max() + 1
    assert row["Mean_Intensity"] == pytest.approx(raw[6][mask].mean())
    assert row["Total_Intensity"] == pytest.approx(raw[6][mask].sum())
    # ids: the lone object is its own track and lineage; merger labels pass through; parents on every row
    assert row["trackId"] == row["lineageId"] and row["parentTrackId"] == 0 and row["mergerLabelId"] == 0
    assert sorted(table.loc[table["mergerLabelId"] > 0, "frame"].unique()) == [5]
    daughters = table[table["labelimageId"].isin([4, 6])]
    mother = table.loc[table["labelimageId"] == 3, "trackId"].unique()
    assert len(mother) == 1 and (daughters["parentTrackId"] == mother[0]).all()
    assert set(table["touches_border"].unique()) <= {0, 1}


def test_deterministic_atomic_and_old_lineages(tmp_path):
    lin, *_ = small_lineage(2)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_objects_csv(lin.nodes, a, ndim=2)
    b.write_text("stale")
    write_objects_csv(lin.nodes.sample(frac=1, random_state=1), b, ndim=2)  # row order does not matter
    assert a.read_bytes() == b.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a.csv", "b.csv"]
    # a lineage made before merger labels existed: 0 everywhere
    old = objects_table(lin.nodes.drop(columns="merger_label"), 2)
    assert (old["mergerLabelId"] == 0).all() and list(old.columns[:6]) == LEADING
    assert set(ID_COLUMNS.values()) == set(LEADING)


def test_errors(tmp_path):
    lin, *_ = small_lineage(2)
    with pytest.raises(InputError, match=r"lacks columns \['track_id'\]"):
        write_objects_csv(lin.nodes.drop(columns="track_id"), tmp_path / "x.csv", ndim=2)
    with pytest.raises(InputError, match="physical position"):
        write_objects_csv(lin.nodes.drop(columns="pos_x"), tmp_path / "x.csv", ndim=2)
    with pytest.raises(InputError, match="ndim must be 2 or 3"):
        write_objects_csv(lin.nodes, tmp_path / "x.csv", ndim=4)
    assert not (tmp_path / "x.csv").exists()

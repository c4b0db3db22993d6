"""ilastik export: ilastik's tracking table and divisions table, read back as ilastik's tests read them and with
pandas, matching the lineage; deterministic, atomic."""

import os

import numpy as np
import pytest

from export_checks import check_ilastik, small_lineage
from lineageflow.errors import InputError
from lineageflow.export.ilastik_tables import DIVISIONS_CSV, TABLE_CSV, tracking_table, write_ilastik


@pytest.mark.parametrize("ndim", [2, 3])
def test_tables_match_the_lineage(tmp_path, ndim):
    lin, labels, raw, _ = small_lineage(ndim)
    out = tmp_path / "ilastik"
    summary = write_ilastik(lin, out, ndim=ndim)
    assert sorted(os.listdir(out)) == [DIVISIONS_CSV, TABLE_CSV]
    table, divisions = check_ilastik(out, lin, ndim)
    assert summary["n_objects"] == len(lin.nodes) and summary["n_divisions"] == 1
    # the one division: object 3 of frame 3 into objects 4 and 6 of frame 4
    (d,) = divisions.itertuples(index=False)
    obj = table.set_index("object_id")
    assert (d.timestep, obj.at[d.object_id, "labelimage_oid"]) == (3, 3)
    assert {obj.at[d.child1_object_id, "labelimage_oid"], obj.at[d.child2_object_id, "labelimage_oid"]} == {4, 6}
    # feature values are the object's pixels, ilastik's exclusive bounding box, x first
    row = table[(table["timestep"] == 6) & (table["labelimage_oid"] == 7)].iloc[0]
    mask = labels[6] == 7
    idx = np.argwhere(mask)
    assert row["Size in pixels"] == mask.sum()
    assert row["Bounding Box Minimum_0"] == idx[:, -1].min() and row["Bounding Box Maximum_0"] == idx[:, -1].max() + 1
    assert row["Mean Intensity"] == pytest.approx(raw[6][mask].mean())
    assert row["Variance of Intensity"] == pytest.approx(raw[6][mask].var(), rel=1e-6)
    assert row["Total Intensity"] == pytest.approx(raw[6][mask].sum())


def test_deterministic_atomic_and_errors(tmp_path):
    lin, *_ = small_lineage(2)
    a, b = tmp_path / "a", tmp_path / "b"
    write_ilastik(lin, a, ndim=2)
    b.mkdir()
    (b / "stale.csv").write_text("old")
    shuffled = type(lin)(lin.graph, lin.tracks, lin.nodes.sample(frac=1, random_state=1))
    write_ilastik(shuffled, b, ndim=2)
    assert {p.name: p.read_bytes() for p in a.iterdir()} == {p.name: p.read_bytes() for p in b.iterdir()}
    with pytest.raises(InputError, match=r"lacks columns \['lineage_id'\]"):
        tracking_table(lin.nodes.drop(columns="lineage_id"), 2)
    with pytest.raises(InputError, match="ndim must be 2 or 3"):
        write_ilastik(lin, tmp_path / "x", ndim=4)
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]

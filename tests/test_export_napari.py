"""napari export: the Tracks layer's data and graph, read back with pandas and matching the lineage; deterministic,
atomic."""

import json
import os

import pytest

from export_checks import check_napari, small_lineage
from lineageflow.errors import InputError
from lineageflow.export.napari_tracks import GRAPH_JSON, LAYER_JSON, TRACKS_CSV, write_napari


@pytest.mark.parametrize("ndim", [2, 3])
def test_tracks_graph_and_scale(tmp_path, ndim):
    lin, _, _, vs = small_lineage(ndim)
    out = tmp_path / "napari"
    summary = write_napari(lin, out, voxel_size=vs)
    assert sorted(os.listdir(out)) == [GRAPH_JSON, LAYER_JSON, TRACKS_CSV]
    df, graph = check_napari(out, lin, vs)
    assert summary == {"n_points": len(lin.nodes), "n_tracks": 6, "n_graph_edges": 3}
    # the division (track 1 -> 3, 4) and the gap continuation (2 -> 5) are napari parent links
    assert graph == {3: [1], 4: [1], 5: [2]}
    assert df.loc[df["track_id"] == 5, "t"].tolist() == [5, 6, 7, 8, 9]


def test_deterministic_atomic_and_errors(tmp_path):
    lin, _, _, vs = small_lineage(2)
    a, b = tmp_path / "a", tmp_path / "b"
    write_napari(lin, a, voxel_size=vs)
    b.mkdir()
    (b / "stale").write_text("old")
    write_napari(lin, b, voxel_size=vs)
    assert {p.name: p.read_bytes() for p in a.iterdir()} == {p.name: p.read_bytes() for p in b.iterdir()}
    with pytest.raises(InputError, match=r"lacks columns \['centroid_x'\]"):
        write_napari(type(lin)(lin.graph, lin.tracks, lin.nodes.drop(columns="centroid_x")), b, voxel_size=vs)
    with pytest.raises(InputError, match="config key 'voxel_size'"):
        write_napari(lin, b, voxel_size=(1.0, -1.0))
    assert json.loads((b / LAYER_JSON).read_text())["scale"] == [1.0, *vs]  # the failed writes left b as it was
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]

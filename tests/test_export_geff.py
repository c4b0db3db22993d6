"""GEFF export: valid for the geff package's validators, read back by geff and by pycellin with the same graph,
segmentation reference checked with geff's segmentation validators, deterministic, atomic."""

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import zarr

from lineageflow.errors import InputError
from lineageflow.export.geff import GRAPH, SEGMENTATION, write_geff
from test_export_mamut import N_FRAMES, counts, small_lineage


def check_geff(store, lin, voxel_size):
    """geff's structure/data/segmentation validators pass, and geff and pycellin read our graph back."""
    import geff
    from geff.core_io import read_to_memory
    from geff.validate import segmentation as segval
    from geff.validate.data import ValidationConfig, validate_data
    from pycellin.io.geff.loader import load_GEFF

    graph_path = str(Path(store) / GRAPH)
    geff.validate_structure(graph_path)
    mem = read_to_memory(graph_path)
    validate_data(mem, ValidationConfig(graph=True, sphere=True, lineage=True, tracklet=True))
    meta = mem["metadata"]
    ndim = len(voxel_size)
    assert [a.name for a in meta.axes] == ["t", *("zyx" if ndim == 3 else "yx")]
    assert [a.type for a in meta.axes] == ["time", *["space"] * ndim]
    assert {a.unit for a in meta.axes[1:]} == {"micrometer"} and meta.axes[0].unit == "frame"
    assert meta.track_node_props == {"tracklet": "tracklet_id", "lineage": "lineage_id"}
    (rel,) = meta.related_objects
    assert (rel.type, rel.node_prop) == ("labels", "seg_id")
    seg = zarr.open_array(str((Path(graph_path) / rel.path).resolve()), mode="r")
    assert seg.shape[0] == N_FRAMES or seg.shape[0] >= 1
    seg = seg[:]
    scale = meta.extra["lineageflow"]["segmentation_scale"]
    assert scale == [1.0, *voxel_size]
    for ok, errors in (segval.has_valid_seg_id(mem), segval.axes_match_seg_dims(mem, seg),
                       segval.graph_is_in_seg_bounds(mem, seg, scale=scale),
                       segval.has_seg_ids_at_time_points(seg, mem["node_props"]["t"]["values"],
                                                         mem["node_props"]["seg_id"]["values"], meta)):
        assert ok, errors

    ours = counts(lin)
    g, _ = geff.read(graph_path)
    assert (g.number_of_nodes(), g.number_of_edges()) == (ours["spots"], ours["edges"])
    assert sum(1 for n in g if g.out_degree(n) >= 2) == ours["divisions"]
    # node positions are the physical centroids, at the node's frame and label
    nodes = lin.nodes.set_index(["frame", "label"])
    for _, d in g.nodes(data=True):
        row = nodes.loc[(d["t"], d["label"])]
        for ax in ("zyx" if ndim == 3 else "yx"):
            assert d[ax] == pytest.approx(row[f"pos_{ax}"])
        assert d["seg_id"] == d["track_id"] == row["track_id"]
    logging.getLogger("pycellin").setLevel(logging.ERROR)
    model = load_GEFF(graph_path)
    lins = model.get_cell_lineages()
    pc = {"spots": sum(len(x) for x in lins), "edges": sum(x.number_of_edges() for x in lins),
          "divisions": sum(1 for x in lins for n in x.nodes if x.out_degree(n) >= 2), "lineages": len(lins)}
    assert pc == {k: ours[k] for k in pc}, (pc, ours)
    assert model.model_metadata.space_unit == "micrometer"
    return seg, pc


@pytest.mark.parametrize("ndim", [2, 3])
def test_validators_and_readers(tmp_path, ndim):
    lin, labels, _, vs = small_lineage(ndim)
    out = tmp_path / "geff" / "lineage.zarr"
    summary = write_geff(lin, lambda t: labels[t], N_FRAMES, out, voxel_size=vs)
    ours = counts(lin)
    assert summary == {"n_nodes": ours["spots"], "n_edges": ours["edges"], "n_divisions": ours["divisions"],
                       "n_lineages": ours["lineages"]}
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [SEGMENTATION, GRAPH]
    seg, _ = check_geff(out, lin, vs)
    # the segmentation holds the lineage's objects under their track ids; the inactive object (20) is erased
    assert seg.dtype == np.uint32 and seg.shape == labels.shape
    for t in range(N_FRAMES):
        for r in lin.nodes[lin.nodes["frame"] == t].itertuples():
            assert (seg[t][labels[t] == r.label] == r.track_id).all()
        assert not seg[t][labels[t] == 20].any()
        assert not seg[t][labels[t] == 0].any()
    # geff tracklets are maximal paths: the gap continuation (label 2) shares the tracklet of its parent (9)
    import geff

    g, _ = geff.read(str(out / GRAPH))
    tracklet = {(d["t"], d["label"]): d["tracklet_id"] for _, d in g.nodes(data=True)}
    assert tracklet[(0, 9)] == tracklet[(9, 2)] and tracklet[(0, 3)] != tracklet[(4, 4)] != tracklet[(4, 6)]


def test_deterministic_and_atomic(tmp_path):
    lin, labels, _, vs = small_lineage(2)
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    write_geff(lin, lambda t: labels[t], N_FRAMES, a, voxel_size=vs)
    b.mkdir()
    (b / "stale").write_text("old")
    write_geff(lin, iter(labels), N_FRAMES, b, voxel_size=vs)

    def files(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(a) == files(b)
    before = files(b)

    def broken(t):
        if t == 4:
            raise RuntimeError("disk on fire")
        return labels[t]

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_geff(lin, broken, N_FRAMES, b, voxel_size=vs)
    assert files(b) == before
    assert sorted(os.listdir(tmp_path)) == ["a.zarr", "b.zarr"]


def test_errors(tmp_path):
    lin, labels, _, vs = small_lineage(2)
    missing = labels.copy()
    missing[6][missing[6] == 7] = 0
    with pytest.raises(InputError, match=r"object 7 of frame 6 \(track \d+\) is not in that frame's label image"):
        write_geff(lin, lambda t: missing[t], N_FRAMES, tmp_path / "x", voxel_size=vs)
    with pytest.raises(InputError, match="ran out at frame 5"):
        write_geff(lin, iter(labels[:5]), N_FRAMES, tmp_path / "x", voxel_size=vs)
    with pytest.raises(InputError, match="objects in frame 9 but n_frames = 4"):
        write_geff(lin, iter(labels), 4, tmp_path / "x", voxel_size=vs)
    with pytest.raises(InputError, match="expected an integer image with 2 axes"):
        write_geff(lin, lambda t: labels[t].astype(float), N_FRAMES, tmp_path / "x", voxel_size=vs)
    with pytest.raises(InputError, match="config key 'voxel_size'"):
        write_geff(lin, iter(labels), N_FRAMES, tmp_path / "x", voxel_size=(1.0, 0.0))
    assert not (tmp_path / "x").exists()

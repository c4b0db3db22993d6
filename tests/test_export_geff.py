"""GEFF export: valid for the geff package's validators, read back by geff and by pycellin with the same graph,
segmentation reference checked with geff's segmentation validators, deterministic, atomic."""

import os

import numpy as np
import pytest

from export_checks import N_FRAMES, check_geff, counts, small_lineage
from lineageflow.errors import InputError
from lineageflow.export.geff import GRAPH, SEGMENTATION, write_geff


@pytest.mark.parametrize("ndim", [2, 3])
def test_validators_and_readers(tmp_path, ndim):
    lin, labels, _, vs = small_lineage(ndim)
    out = tmp_path / "geff" / "lineage.zarr"
    summary = write_geff(lin, lambda t: labels[t], N_FRAMES, out, voxel_size=vs)
    ours = counts(lin)
    assert summary == {"n_nodes": ours["spots"], "n_edges": ours["edges"], "n_divisions": ours["divisions"],
                       "n_lineages": ours["lineages"]}
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [SEGMENTATION, GRAPH]
    seg, _ = check_geff(out, lin, vs, N_FRAMES)
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

"""CTC export: valid for traccuracy's checks, deterministic, atomic."""

import os

import numpy as np
import pandas as pd
import pytest
import tifffile
from traccuracy.loaders import load_ctc_data

from lineageflow.errors import InputError
from lineageflow.export.ctc import mask_name, read_ctc, write_ctc
from lineageflow.lineage import Lineage, from_solution

N_FRAMES = 8


def _movie():
    """A division (label 3 in frames 0-3 -> labels 4, 6 in 4-7), a cell with a gap (label 9: 0-2, label 2: 5-7)
    and a false detection (label 20, every frame) that the solution leaves inactive."""
    objs = []  # frame, label, y, x
    for t in range(N_FRAMES):
        if t < 4:
            objs.append((t, 3, 4, 4 + t))
        else:
            objs += [(t, 4, 2, 8 + t), (t, 6, 10, 8 + t)]
        if t < 3:
            objs.append((t, 9, 20, 20))
        if t >= 5:
            objs.append((t, 2, 22, 22))
    nodes = pd.DataFrame(objs, columns=["frame", "label", "pos_y", "pos_x"])
    edges = [(t, 3, 3, t + 1) for t in range(3)] + [(3, 3, 4, 4), (3, 3, 6, 4)]
    edges += [(t, lab, lab, t + 1) for t in range(4, 7) for lab in (4, 6)]
    edges += [(0, 9, 9, 1), (1, 9, 9, 2), (2, 9, 2, 5), (5, 2, 2, 6), (6, 2, 2, 7)]
    edges = pd.DataFrame(edges, columns=["frame", "label_src", "label_dst", "frame_dst"])
    frames = np.zeros((N_FRAMES, 32, 32), np.uint16)
    for t, lab, y, x in objs:
        frames[t, y : y + 3, x : x + 3] = lab
    frames[:, 28:31, 0:3] = 20  # inactive
    return from_solution(nodes, edges), frames


def _check_loads(folder):
    return load_ctc_data(str(folder), str(folder / "res_track.txt"), run_checks=True)


def test_write_read_and_traccuracy_accepts(tmp_path):
    lin, frames = _movie()
    out = write_ctc(lin, frames, N_FRAMES, tmp_path / "ctc")
    names = sorted(os.listdir(out))
    assert names == [f"mask{t:03d}.tif" for t in range(N_FRAMES)] + ["res_track.txt"]
    tracks, masks = read_ctc(out)
    pd.testing.assert_frame_equal(tracks, lin.tracks)
    assert [p.name for p in masks] == names[:-1]
    assert (out / "res_track.txt").read_text() == "1 0 3 0\n2 0 2 0\n3 4 7 1\n4 4 7 1\n5 5 7 2\n"

    g = _check_loads(out)
    assert g.graph.number_of_nodes() == len(lin.nodes)
    assert g.graph.number_of_edges() == lin.graph.number_of_edges()
    m = tifffile.imread(masks[5])
    assert m.dtype == np.uint16
    assert set(np.unique(m)) == {0, 3, 4, 5}  # daughters 3, 4; gap continuation 5; inactive 20 erased
    assert (m[frames[5] == 20] == 0).all()
    assert (m[frames[5] == 6] == 4).all()


def test_rerun_is_byte_identical(tmp_path):
    lin, frames = _movie()
    a = write_ctc(lin, frames, N_FRAMES, tmp_path / "a")
    b = write_ctc(lin, lambda t: frames[t], N_FRAMES, tmp_path / "b")
    for name in sorted(os.listdir(a)):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_four_digits_from_1000_frames(tmp_path):
    assert mask_name(7, 999) == "mask007.tif"
    assert mask_name(7, 1000) == "mask0007.tif"
    assert mask_name(7, 10001) == "mask00007.tif"
    n = 1000
    nodes = pd.DataFrame({"frame": range(n), "label": 1})
    edges = pd.DataFrame({"frame": range(n - 1), "label_src": 1, "label_dst": 1})
    img = np.zeros((8, 8), np.uint8)
    img[2:4, 2:4] = 1
    out = write_ctc(from_solution(nodes, edges), lambda t: img, n, tmp_path / "long")
    tracks, masks = read_ctc(out)
    assert len(masks) == n and masks[0].name == "mask0000.tif" and masks[-1].name == "mask0999.tif"
    assert tracks.values.tolist() == [[1, 0, n - 1, 0]]
    assert _check_loads(out).graph.number_of_nodes() == n


def test_3d_and_wide_label_types(tmp_path):
    nodes = pd.DataFrame({"frame": [0, 1], "label": [70000, 5]})
    edges = pd.DataFrame({"frame": [0], "label_src": [70000], "label_dst": [5]})
    frames = np.zeros((2, 3, 8, 8), np.uint32)
    frames[0, 1, 2:5, 2:5] = 70000
    frames[1, 1:3, 3:6, 3:6] = 5
    frames[1, 0, 0, 0] = 99  # inactive
    out = write_ctc(from_solution(nodes, edges), frames, 2, tmp_path / "3d")
    g = _check_loads(out)
    assert g.segmentation.shape == (2, 3, 8, 8)
    assert g.graph.number_of_edges() == 1
    assert set(np.unique(g.segmentation)) == {0, 1}


def test_existing_folder_replaced_atomically(tmp_path):
    lin, frames = _movie()
    out = tmp_path / "ctc"
    out.mkdir()
    (out / "stale.tif").write_bytes(b"old")
    write_ctc(lin, frames, N_FRAMES, out)
    assert not (out / "stale.tif").exists()
    _check_loads(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctc"]  # no temporaries left


def test_failure_midway_keeps_old_folder(tmp_path):
    lin, frames = _movie()
    out = write_ctc(lin, frames, N_FRAMES, tmp_path / "ctc")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(t):
        if t == 5:
            raise RuntimeError("disk on fire")
        return frames[t]

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_ctc(lin, broken, N_FRAMES, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctc"]


def test_errors(tmp_path):
    lin, frames = _movie()
    missing = frames.copy()
    missing[2][missing[2] == 9] = 0
    with pytest.raises(InputError, match="object 9 of frame 2 .track 2. is not in that frame's label image"):
        write_ctc(lin, missing, N_FRAMES, tmp_path / "x")
    with pytest.raises(InputError, match="6 label frames given"):
        write_ctc(lin, frames[:6], N_FRAMES, tmp_path / "x")
    with pytest.raises(InputError, match="ran out at frame 6"):
        write_ctc(lin, iter(frames[:6]), N_FRAMES, tmp_path / "x")
    with pytest.raises(InputError, match="objects in frame 7 but n_frames = 5"):
        write_ctc(lin, frames[:5], 5, tmp_path / "x")
    with pytest.raises(InputError, match="not integer"):
        write_ctc(lin, frames.astype(float), N_FRAMES, tmp_path / "x")
    assert not (tmp_path / "x").exists()

    # more tracks than uint16 can label
    many = Lineage(lin.graph, lin.tracks.assign(L=lin.tracks["L"] + 65535), lin.nodes)
    with pytest.raises(InputError, match="do not fit the uint16"):
        write_ctc(many, frames, N_FRAMES, tmp_path / "x")


def test_read_ctc_rejects_garbage(tmp_path):
    (tmp_path / "res_track.txt").write_text("1 0 3\n")
    with pytest.raises(InputError, match="line 1: expected four integers"):
        read_ctc(tmp_path)
    with pytest.raises(InputError, match="no res_track.txt"):
        read_ctc(tmp_path / "nothing")

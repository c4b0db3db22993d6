"""Tests of lineageflow.groundtruth (CTC ground-truth folders)."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from lineageflow.errors import InputError
from lineageflow.groundtruth import evenly_spaced, mask_frames, read_mask, sibling_gt, track_frames


def _write(path: Path, shape=(6, 6), value=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.full(shape, value, np.uint16), photometric="minisblack")
    return path


@pytest.fixture
def seq(tmp_path):
    """tmp/DS/01 (frames) and tmp/DS/01_GT (TRA for frames 0..4, SEG for 1 and 3)."""
    s = tmp_path / "DS" / "01"
    for t in range(5):
        _write(s / f"t{t:03d}.tif")
    gt = tmp_path / "DS" / "01_GT"
    for t in range(5):
        _write(gt / "TRA" / f"man_track{t:03d}.tif", value=10 + t)
    (gt / "TRA" / "man_track.txt").write_text("1 0 4 0\n")
    for t in (3, 1):
        _write(gt / "SEG" / f"man_seg{t:03d}.tif", value=20 + t)
    return s


# --- sibling_gt --------------------------------------------------------------------------------------------------

def test_sibling_gt(seq):
    assert sibling_gt(seq) == seq.with_name("01_GT")
    assert sibling_gt(str(seq)) == seq.with_name("01_GT")
    assert sibling_gt(str(seq) + "/") == seq.with_name("01_GT")


def test_sibling_gt_absent(seq, tmp_path):
    other = seq.with_name("02")
    other.mkdir()
    assert sibling_gt(other) is None
    assert sibling_gt(tmp_path / "missing") is None
    # a file is not a sequence folder, even with a _GT folder beside it
    f = _write(tmp_path / "DS" / "movie.tif")
    (tmp_path / "DS" / "movie.tif_GT").mkdir()
    assert sibling_gt(f) is None
    # a file named like the GT folder is not one
    (tmp_path / "DS" / "03").mkdir()
    (tmp_path / "DS" / "03_GT").write_text("")
    assert sibling_gt(tmp_path / "DS" / "03") is None


def test_sibling_gt_of_current_folder(seq, monkeypatch):
    monkeypatch.chdir(seq)
    gt = sibling_gt(".")
    assert gt is not None and gt.resolve() == seq.with_name("01_GT").resolve()


# --- mask_frames / track_frames ----------------------------------------------------------------------------------

def test_mask_frames_prefers_seg(seq):
    frames = mask_frames(seq.with_name("01_GT"))
    assert list(frames) == [1, 3]  # sorted by frame
    assert frames[1].name == "man_seg001.tif"
    assert read_mask(frames[3])[0, 0] == 23


def test_mask_frames_falls_back_to_tra(seq):
    gt = seq.with_name("01_GT")
    for p in (gt / "SEG").iterdir():
        p.unlink()
    frames = mask_frames(gt)
    assert list(frames) == [0, 1, 2, 3, 4]
    assert frames[2].name == "man_track002.tif"
    # no SEG folder at all
    (gt / "SEG").rmdir()
    assert list(mask_frames(gt)) == [0, 1, 2, 3, 4]


def test_mask_frames_ignores_slice_annotations(tmp_path):
    """CTC 3D SEG may annotate single slices (man_seg_TTT_ZZZ.tif); those are not full masks."""
    gt = tmp_path / "01_GT"
    _write(gt / "SEG" / "man_seg_000_012.tif")
    _write(gt / "TRA" / "man_track000.tif")
    _write(gt / "TRA" / "man_track001.tif")
    assert list(mask_frames(gt)) == [0, 1]
    assert mask_frames(gt)[0].parent.name == "TRA"


def test_mask_frames_errors(tmp_path):
    with pytest.raises(InputError) as e:
        mask_frames(tmp_path / "nope_GT")
    assert "nope_GT" in str(e.value)
    (tmp_path / "empty_GT" / "SEG").mkdir(parents=True)
    with pytest.raises(InputError) as e:
        mask_frames(tmp_path / "empty_GT")
    assert "empty_GT" in str(e.value) and "man_seg" in str(e.value)


def test_track_frames(seq, tmp_path):
    assert list(track_frames(seq.with_name("01_GT"))) == [0, 1, 2, 3, 4]
    with pytest.raises(InputError) as e:
        track_frames(tmp_path)
    assert "TRA" in str(e.value)


def test_read_mask(tmp_path):
    p = _write(tmp_path / "man_seg000.tif", shape=(4, 5), value=3)
    assert read_mask(p, (4, 5)).shape == (4, 5)
    with pytest.raises(InputError) as e:
        read_mask(p, (5, 5))
    assert str(p) in str(e.value)
    bad = tmp_path / "man_seg001.tif"
    bad.write_bytes(b"junk")
    with pytest.raises(InputError) as e:
        read_mask(bad)
    assert str(bad) in str(e.value)


# --- evenly_spaced -----------------------------------------------------------------------------------------------

def test_evenly_spaced():
    frames = list(range(0, 100, 2))  # 50 frames
    picked = evenly_spaced(frames, 4)
    assert len(picked) == 4
    assert picked[0] == 0 and picked[-1] == 98
    assert picked == sorted(picked) and set(picked) <= set(frames)
    assert evenly_spaced([0, 10, 20, 30, 40], 3) == [0, 20, 40]
    assert evenly_spaced([5, 9], 1) == [5]


def test_evenly_spaced_fewer_frames_than_asked():
    assert evenly_spaced([3, 7, 8], 4) == [3, 7, 8]
    assert evenly_spaced([3, 7, 8], 3) == [3, 7, 8]
    assert evenly_spaced([], 4) == []


@pytest.mark.parametrize("n_frames", range(1, 15))
def test_evenly_spaced_distinct(n_frames):
    frames = list(range(100, 100 + n_frames))
    for n in range(1, n_frames + 1):
        picked = evenly_spaced(frames, n)
        assert len(picked) == n
        assert len(set(picked)) == n


def _ctc_gt(root: Path) -> Path:
    """4 frames: track 1 in 0..3, track 2 in 0..1 dividing into 3 and 4 in 2..3."""
    tra = root / "01_GT" / "TRA"
    tra.mkdir(parents=True)
    for t in range(4):
        img = np.zeros((16, 16), np.uint16)
        img[1:4, 1:4] = 1
        if t < 2:
            img[8:11, 8:11] = 2
        else:
            img[6:9, 8:11] = 3
            img[11:14, 8:11] = 4
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", img)
    (tra / "man_track.txt").write_text("1 0 3 0\n2 0 1 0\n3 2 3 2\n4 2 3 2\n")
    return tra.parent


def test_check_ctc_passes_a_consistent_ground_truth(tmp_path):
    from lineageflow.groundtruth import check_ctc

    assert check_ctc(_ctc_gt(tmp_path), 4) == {"n_tracks": 4, "n_frames": 4}


@pytest.mark.parametrize("breakage, words", [
    (lambda tra: (tra / "man_track.txt").write_text("1 0 3 0\n2 0 1 0\n3 2 3 2\n"), "label 4 is not a track"),
    (lambda tra: (tra / "man_track.txt").write_text("1 0 3 0\n2 0 1 0\n3 2 3 2\n4 2 3 9\n"), "parent 9"),
    (lambda tra: (tra / "man_track.txt").write_text("1 0 3 0\n2 0 2 0\n3 2 3 2\n4 2 3 2\n"), "parent 2 ends at 2"),
    (lambda tra: (tra / "man_track.txt").write_text("1 0 3 0\n2 0 1\n"), "line 2: expected 4 numbers"),
    (lambda tra: (tra / "man_track.txt").write_text("1 0 3 0\n1 0 1 0\n3 2 3 1\n4 2 3 1\n"), "track 1 is listed more than once"),
    (lambda tra: tifffile.imwrite(tra / "man_track001.tif", np.where(
        tifffile.imread(tra / "man_track001.tif") == 1, 0, tifffile.imread(tra / "man_track001.tif"))),
     r"track 1 \(frames 0..3\) is missing from the masks of frames \[1\]"),
    (lambda tra: (tra / "man_track.txt").unlink(), "has no TRA/man_track.txt"),
])
def test_check_ctc_names_the_file_and_the_fault(tmp_path, breakage, words):
    from lineageflow.groundtruth import check_ctc

    gt = _ctc_gt(tmp_path)
    breakage(gt / "TRA")
    with pytest.raises(InputError, match=words):
        check_ctc(gt, 4)


def test_check_ctc_frames_beyond_the_movie(tmp_path):
    from lineageflow.groundtruth import check_ctc

    with pytest.raises(InputError, match=r"man_track003.tif: ground-truth frame 3 is beyond the movie's 3 frames"):
        check_ctc(_ctc_gt(tmp_path), 3)


def test_check_ctc_once_is_skipped_until_a_file_changes(tmp_path):
    import os

    from lineageflow.groundtruth import check_ctc_once

    gt = _ctc_gt(tmp_path)
    cache = tmp_path / "out" / ".lineageflow" / "gt_check.json"
    assert check_ctc_once(gt, 4, cache) is True and cache.is_file()
    assert check_ctc_once(gt, 4, cache) is False  # same files, same movie: not read again
    assert check_ctc_once(gt, 5, cache) is True  # another movie length: checked again
    mask = gt / "TRA" / "man_track002.tif"
    tifffile.imwrite(mask, np.zeros((16, 16), np.uint16))
    os.utime(mask, ns=(1, 1))  # a changed file is checked again (and now fails; the cache keeps the old pass)
    before = cache.read_text()
    with pytest.raises(InputError, match="track 1"):
        check_ctc_once(gt, 5, cache)
    assert cache.read_text() == before

"""Tests of lineageflow.ctc_subset: a frame range of a CTC training sequence as a sequence of its own."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import require_shared

from lineageflow.ctc_subset import write_subsequence
from lineageflow.errors import InputError
from lineageflow.synthetic import SyntheticConfig, generate


def _table(gt: Path) -> dict[int, tuple[int, int, int]]:
    rows = np.loadtxt(gt / "TRA" / "man_track.txt", dtype=np.int64, ndmin=2)
    return {int(label): (int(b), int(e), int(p)) for label, b, e, p in rows}


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _check_subsequence(seq: Path, gt: Path, frames: range, out_seq: Path, out_gt: Path) -> dict[int, tuple]:
    """Everything a sub-sequence must be, checked against the source's files; returns the new track table."""
    from traccuracy.loaders import load_ctc_data

    n = len(frames)
    assert _names(out_seq) == [f"t{i:03d}.tif" for i in range(n)]
    assert _names(out_gt / "TRA") == sorted([f"man_track{i:03d}.tif" for i in range(n)] + ["man_track.txt"])
    # Renumbered from 0, bytes unchanged.
    for i, t in enumerate(frames):
        assert (out_seq / f"t{i:03d}.tif").read_bytes() == (seq / f"t{t:03d}.tif").read_bytes()
        assert (out_gt / "TRA" / f"man_track{i:03d}.tif").read_bytes() == \
            (gt / "TRA" / f"man_track{t:03d}.tif").read_bytes()
    # Full-frame SEG masks of the range, and only those.
    seg_src = [t for t in frames if (gt / "SEG" / f"man_seg{t:03d}.tif").is_file()]
    seg_out = _names(out_gt / "SEG") if (out_gt / "SEG").is_dir() else []
    assert seg_out == [f"man_seg{t - frames.start:03d}.tif" for t in seg_src]
    for t in seg_src:
        assert (out_gt / "SEG" / f"man_seg{t - frames.start:03d}.tif").read_bytes() == \
            (gt / "SEG" / f"man_seg{t:03d}.tif").read_bytes()

    table, source = _table(out_gt), _table(gt)
    seen: dict[int, list[int]] = {}
    for i in range(n):
        labels = {int(v) for v in np.unique(tifffile.imread(out_gt / "TRA" / f"man_track{i:03d}.tif"))} - {0}
        for label in labels:
            seen.setdefault(label, []).append(i)
        # Every label of every mask is a track alive at that frame, and every live track is in the mask.
        assert labels == {label for label, (b, e, _) in table.items() if b <= i <= e}, i
    # Begin/end are the first/last frame each label is seen in the masks; tracks absent from the range are gone.
    assert {label: (b, e) for label, (b, e, _) in table.items()} == {label: (f[0], f[-1]) for label, f in seen.items()}
    for label, (b, e, p) in table.items():
        source_parent = source[label][2]
        if p:
            assert p == source_parent and table[p][1] < b
        elif source_parent:
            assert source[source_parent][1] < frames.start, f"track {label} lost its parent {source_parent}"

    graph = load_ctc_data(str(out_gt / "TRA"), str(out_gt / "TRA" / "man_track.txt"), run_checks=True)
    assert graph.graph.number_of_nodes() == sum(e - b + 1 for b, e, _ in table.values())
    return table


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    """The default demo movie (30 frames, divisions, entries and exits) with sparse SEG and a 3D-style slice mask."""
    out = tmp_path_factory.mktemp("movie")
    generate(out, SyntheticConfig())
    gt = out / "01_GT"
    for t in (1, 4, 13, 20):  # SEG on some frames only, as in most CTC ground truths
        (gt / "SEG" / f"man_seg{t:03d}.tif").unlink()
    # A single-slice annotation name (man_seg_TTT_ZZZ): not a full-frame mask, must be left out.
    tifffile.imwrite(gt / "SEG" / "man_seg_012_000.tif", np.zeros((192, 192), np.uint16))
    return out / "01", gt


def _child_start(gt: Path) -> int:
    """First frame of the earliest daughter track: a range starting there cuts its parent off."""
    return min(b for b, _, p in _table(gt).values() if p)


def test_generated_movie_subsequence(movie, tmp_path):
    seq, gt = movie
    before = _digest(seq.parent)
    start = _child_start(gt)
    frames = range(start, start + 12)
    summary = write_subsequence(seq, gt, frames, tmp_path / "01", tmp_path / "01_GT")
    table = _check_subsequence(seq, gt, frames, tmp_path / "01", tmp_path / "01_GT")
    assert summary["n_frames"] == 12 and summary["n_tracks"] == len(table)
    assert any(_table(gt)[label][2] and not p for label, (_, _, p) in table.items()), "no parent was cut off"
    assert _digest(seq.parent) == before


def test_division_inside_the_range_keeps_its_parent(movie, tmp_path):
    seq, gt = movie
    start = _child_start(gt)
    frames = range(start - 3, start + 3)
    table = _check_subsequence(seq, gt, frames, *_write(seq, gt, frames, tmp_path))
    assert any(p for _, _, p in table.values())


def _write(seq, gt, frames, where: Path, **kwargs) -> tuple[Path, Path]:
    write_subsequence(seq, gt, frames, where / "01", where / "01_GT", **kwargs)
    return where / "01", where / "01_GT"


def test_whole_movie_and_single_frames(movie, tmp_path):
    seq, gt = movie
    whole = _write(seq, gt, range(0, 30), tmp_path / "whole")
    _check_subsequence(seq, gt, range(0, 30), *whole)
    assert (whole[1] / "TRA" / "man_track.txt").read_text() == (gt / "TRA" / "man_track.txt").read_text()
    for t in (0, 29):
        _check_subsequence(seq, gt, range(t, t + 1), *_write(seq, gt, range(t, t + 1), tmp_path / str(t)))


def test_subsequence_of_a_subsequence_is_the_direct_one(movie, tmp_path):
    seq, gt = movie
    outer = _write(seq, gt, range(3, 27), tmp_path / "outer")
    inner = _write(*outer, range(5, 17), tmp_path / "inner")
    direct = _write(seq, gt, range(8, 20), tmp_path / "direct")
    for a, b in zip(inner, direct):
        assert _digest(a) == _digest(b)


def test_link_shares_the_files_and_rewrites_only_the_table(movie, tmp_path):
    seq, gt = movie
    out_seq, out_gt = _write(seq, gt, range(2, 6), tmp_path, link=True)
    assert (out_seq / "t000.tif").stat().st_ino == (seq / "t002.tif").stat().st_ino
    assert (out_gt / "TRA" / "man_track003.tif").stat().st_ino == (gt / "TRA" / "man_track005.tif").stat().st_ino
    assert (out_gt / "TRA" / "man_track.txt").stat().st_ino != (gt / "TRA" / "man_track.txt").stat().st_ino
    _check_subsequence(seq, gt, range(2, 6), out_seq, out_gt)


def test_existing_output_is_replaced(movie, tmp_path):
    seq, gt = movie
    (tmp_path / "01").mkdir()
    (tmp_path / "01" / "t099.tif").write_bytes(b"stale")
    out_seq, out_gt = _write(seq, gt, range(0, 4), tmp_path)
    assert _names(out_seq) == ["t000.tif", "t001.tif", "t002.tif", "t003.tif"]


def test_names_keep_the_source_padding_and_suffix(movie, tmp_path):
    # A movie of 1000+ frames has 4-digit names; some tools write .tiff. A sub-sequence keeps both.
    seq, gt = movie
    src_seq, src_gt = tmp_path / "src" / "01", tmp_path / "src" / "01_GT"
    (src_gt / "TRA").mkdir(parents=True)
    src_seq.mkdir()
    for t in range(4):
        (src_seq / f"t{t:04d}.tiff").write_bytes((seq / f"t{t:03d}.tif").read_bytes())
        (src_gt / "TRA" / f"man_track{t:04d}.tiff").write_bytes((gt / "TRA" / f"man_track{t:03d}.tif").read_bytes())
    rows = [(label, b, min(e, 3), p) for label, (b, e, p) in _table(gt).items() if b <= 3]
    (src_gt / "TRA" / "man_track.txt").write_text("".join(f"{label} {b} {e} {p}\n" for label, b, e, p in rows))
    out_seq, out_gt = _write(src_seq, src_gt, range(1, 3), tmp_path / "out")
    assert _names(out_seq) == ["t0000.tiff", "t0001.tiff"]
    assert _names(out_gt / "TRA") == ["man_track.txt", "man_track0000.tiff", "man_track0001.tiff"]
    assert (out_seq / "t0001.tiff").read_bytes() == (seq / "t002.tif").read_bytes()


def test_sim_subsequence(tmp_path):
    seq = require_shared("Fluo-N2DH-SIM+", "01")
    gt = seq.with_name("01_GT")
    # Daughters 43..48 start at 19 (parents end at 18: cut off); 49, 50 start at 20 (parent 17 ends at 19: kept).
    frames = range(19, 45)
    out = _write(seq, gt, frames, tmp_path / "direct")
    table = _check_subsequence(seq, gt, frames, *out)
    assert table[43][2] == 0 and table[49][2] == 17 and table[49][:2] == (1, 25)
    outer = _write(seq, gt, range(10, 50), tmp_path / "outer")
    inner = _write(*outer, range(9, 35), tmp_path / "inner")
    for a, b in zip(inner, out):
        assert _digest(a) == _digest(b)


def test_gowt1_sparse_seg_is_renumbered(tmp_path):
    seq = require_shared("Fluo-N2DH-GOWT1", "01")
    gt = seq.with_name("01_GT")
    frames = range(4, 10)  # SEG at 5, 6, 7, 8
    out_seq, out_gt = _write(seq, gt, frames, tmp_path)
    _check_subsequence(seq, gt, frames, out_seq, out_gt)
    assert _names(out_gt / "SEG") == ["man_seg001.tif", "man_seg002.tif", "man_seg003.tif", "man_seg004.tif"]


def test_cho_single_slice_seg_is_left_out(tmp_path):
    seq = require_shared("Fluo-N3DH-CHO", "01")
    gt = seq.with_name("01_GT")
    frames = range(3, 10)  # SEG has only man_seg_004_000 and man_seg_008_001 here
    out_seq, out_gt = _write(seq, gt, frames, tmp_path)
    _check_subsequence(seq, gt, frames, out_seq, out_gt)
    assert not (out_gt / "SEG").exists()


@pytest.mark.parametrize(
    "frames, problem",
    [
        (range(5, 5), "empty"),
        (range(-1, 3), "outside"),
        (range(25, 31), "outside"),
        (range(0, 10, 2), "consecutive"),
    ],
)
def test_bad_range_names_the_sequence(movie, tmp_path, frames, problem):
    seq, gt = movie
    with pytest.raises(InputError, match=problem) as e:
        write_subsequence(seq, gt, frames, tmp_path / "01", tmp_path / "01_GT")
    assert str(seq) in str(e.value)
    assert not any(tmp_path.iterdir())


def test_missing_folders_and_files_name_the_path(movie, tmp_path):
    seq, gt = movie
    cases = [
        (tmp_path / "nope", gt, tmp_path / "nope", "does not exist"),
        (seq, tmp_path / "nope_GT", tmp_path / "nope_GT", "does not exist"),
        (seq, seq, seq, "no TRA"),
    ]
    for s, g, named, problem in cases:
        with pytest.raises(InputError, match=problem) as e:
            write_subsequence(s, g, range(0, 3), tmp_path / "out" / "01", tmp_path / "out" / "01_GT")
        assert str(named) in str(e.value)
    no_table = tmp_path / "gt_without_table"
    (no_table / "TRA").mkdir(parents=True)
    for t in range(3):
        (no_table / "TRA" / f"man_track{t:03d}.tif").write_bytes((gt / "TRA" / f"man_track{t:03d}.tif").read_bytes())
    with pytest.raises(InputError, match="man_track.txt: track table does not exist"):
        write_subsequence(seq, no_table, range(0, 3), tmp_path / "out" / "01", tmp_path / "out" / "01_GT")
    with pytest.raises(InputError, match="man_track mask for frame"):
        write_subsequence(seq, no_table, range(0, 4), tmp_path / "out" / "01", tmp_path / "out" / "01_GT")
    assert not (tmp_path / "out").exists()


def test_output_inside_the_source_is_refused(movie, tmp_path):
    seq, gt = movie
    before = _digest(seq.parent)
    for out_seq, out_gt in [(seq, tmp_path / "gt"), (tmp_path / "seq", gt / "sub"), (tmp_path / "x", tmp_path / "x")]:
        with pytest.raises(InputError, match="output"):
            write_subsequence(seq, gt, range(0, 3), out_seq, out_gt)
    assert _digest(seq.parent) == before

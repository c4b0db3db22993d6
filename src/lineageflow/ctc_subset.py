"""A frame range of a Cell Tracking Challenge training sequence, written as a sequence of its own.

For held-out-frame tests and benchmarks: frames ``start .. stop-1`` of a movie and its ground truth become a
complete CTC sequence renumbered from 0, which every CTC reader (traccuracy, lineageflow's own inputs) takes as it
is. Raw frames and masks are byte-identical to the source's (copied, or hard-linked on request); only the track
table is rewritten. The source is only read, so it may live on a read-only share.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from .atomic import atomic_path
from .errors import InputError
from .groundtruth import _SEG_RE, _indexed, track_frames
from .io import list_frames

__all__ = ["write_subsequence"]

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^(\D*?)(\d+)$")  # prefix and frame digits of a stem: t012, man_track012, man_seg012


def _renumbered_name(path: Path, index: int) -> str:
    # Keep the source's prefix, zero padding (3 digits, 4 from 1000 frames) and suffix (.tif / .tiff).
    m = _NAME_RE.match(path.stem)
    return f"{m.group(1)}{index:0{len(m.group(2))}d}{path.suffix}"


def _transfer(src: Path, dst: Path, link: bool) -> None:
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # other file system, or a kernel that forbids linking files we do not own: copy instead
    shutil.copyfile(src, dst)


def _read_track_table(path: Path) -> list[tuple[int, int, int, int]]:
    if not path.is_file():
        raise InputError(f"{path}: track table does not exist")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            label, begin, end, parent = (int(v) for v in line.split())
        except ValueError:
            raise InputError(f"{path}: line {n} is {line!r}; expected four integers 'L B E P'") from None
        if label < 1 or begin > end:
            raise InputError(f"{path}: line {n} is {line!r}; needs a label >= 1 and begin <= end")
        rows.append((label, begin, end, parent))
    return rows


def _clip_tracks(rows: list[tuple[int, int, int, int]], start: int, last: int) -> list[tuple[int, int, int, int]]:
    """Tracks seen in frames start..last, shifted to begin at 0; a parent outside the range becomes 0."""
    kept = {label: (max(b, start) - start, min(e, last) - start, p) for label, b, e, p in rows
            if e >= start and b <= last}
    return [(label, b, e, p if p in kept else 0) for label, (b, e, p) in sorted(kept.items())]


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def write_subsequence(seq_dir: str | Path, gt_dir: str | Path, frames: range, out_seq_dir: str | Path,
                      out_gt_dir: str | Path, *, link: bool = False) -> dict:
    """Write frames ``frames.start .. frames.stop-1`` of a CTC sequence and its ground truth, renumbered from 0.

    Writes ``out_seq_dir/tTTT.tif`` (raw), ``out_gt_dir/TRA/man_trackTTT.tif`` + ``man_track.txt`` and
    ``out_gt_dir/SEG/man_segTTT.tif`` for the frames of the range that have a full-frame SEG mask (3D single-slice
    masks ``man_seg_TTT_ZZZ.tif`` are left out). Images keep their bytes, so mask labels stay the track ids; the
    track table keeps the tracks seen in the range, clipped to it and shifted, with parent 0 where the parent track
    ended before the range. ``link=True`` hard-links the images where the file system allows (no copy of a large
    movie; then never write into the output images, they are the source's files). Each output folder is replaced
    as a whole. Returns a summary: frame counts, tracks kept and the new indices of the SEG frames.
    """
    seq, gt = Path(seq_dir), Path(gt_dir)
    out_seq, out_gt = Path(out_seq_dir), Path(out_gt_dir)
    raw_files = list_frames(seq, what="raw frames")
    n = len(raw_files)
    if not isinstance(frames, range) or frames.step != 1:
        raise InputError(f"{seq}: frames must be a range of consecutive frames, got {frames!r}")
    if len(frames) == 0:
        raise InputError(f"{seq}: frame range {frames.start}..{frames.stop - 1} is empty")
    if frames.start < 0 or frames.stop > n:
        raise InputError(f"{seq}: frame range {frames.start}..{frames.stop - 1} is outside the movie's "
                         f"frames 0..{n - 1}")
    if not gt.is_dir():
        raise InputError(f"{gt}: ground-truth folder does not exist")
    for out in (out_seq, out_gt):
        for source in (seq, gt):
            if _overlaps(out, source):
                raise InputError(f"{out}: output folder overlaps the source folder {source}; "
                                 "the source must stay untouched")
    if _overlaps(out_seq, out_gt):
        raise InputError(f"{out_seq}: raw and ground-truth output folders must be separate, got {out_gt}")

    tra = track_frames(gt)
    missing = [t for t in frames if t not in tra]
    if missing:
        raise InputError(f"{gt / 'TRA'}: no man_track mask for frame(s) {', '.join(map(str, missing[:10]))} "
                         f"of the range {frames.start}..{frames.stop - 1}")
    tracks = _clip_tracks(_read_track_table(gt / "TRA" / "man_track.txt"), frames.start, frames.stop - 1)
    seg = {t: p for t, p in _indexed(gt / "SEG", _SEG_RE).items() if t in frames}

    with atomic_path(out_seq) as raw_tmp, atomic_path(out_gt) as gt_tmp:
        raw_tmp.mkdir()
        (gt_tmp / "TRA").mkdir(parents=True)
        if seg:
            (gt_tmp / "SEG").mkdir()
        for index, t in enumerate(frames):
            _transfer(raw_files[t], raw_tmp / _renumbered_name(raw_files[t], index), link)
            _transfer(tra[t], gt_tmp / "TRA" / _renumbered_name(tra[t], index), link)
            if t in seg:
                _transfer(seg[t], gt_tmp / "SEG" / _renumbered_name(seg[t], index), link)
        (gt_tmp / "TRA" / "man_track.txt").write_text("".join(f"{label} {b} {e} {p}\n" for label, b, e, p in tracks))

    summary = {
        "source": str(seq),
        "source_frames": [frames.start, frames.stop - 1],
        "n_frames": len(frames),
        "n_tracks": len(tracks),
        "seg_frames": [t - frames.start for t in seg],
    }
    log.info("sub-sequence written to %s and %s: %s", out_seq, out_gt, summary)
    return summary

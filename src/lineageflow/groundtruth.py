"""Cell Tracking Challenge ground truth: where it is and which frames have masks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tifffile

from .errors import InputError

_SEG_RE = re.compile(r"^man_seg(\d+)\.tiff?$")
_TRA_RE = re.compile(r"^man_track(\d+)\.tiff?$")


def sibling_gt(sequence: str | Path) -> Path | None:
    """The CTC ground-truth folder NN_GT beside a sequence folder NN, if it exists."""
    seq = Path(sequence)
    if seq.name in ("", ".."):  # "." or "..": name the folder itself
        seq = seq.resolve()
    gt = seq.with_name(seq.name + "_GT")
    return gt if seq.is_dir() and gt.is_dir() else None


def _indexed(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    found = {}
    for p in folder.iterdir():
        m = pattern.match(p.name)
        if m:
            found[int(m.group(1))] = p
    return dict(sorted(found.items()))


def mask_frames(gt_dir: str | Path) -> dict[int, Path]:
    """Frames with full instance masks: SEG where present (full masks), else TRA (full masks or markers)."""
    gt = Path(gt_dir)
    if not gt.is_dir():
        raise InputError(f"{gt}: ground-truth folder does not exist")
    seg = _indexed(gt / "SEG", _SEG_RE)
    if seg:
        return seg
    tra = _indexed(gt / "TRA", _TRA_RE)
    if tra:
        return tra
    raise InputError(f"{gt}: no ground-truth masks found (expected SEG/man_segTTT.tif or TRA/man_trackTTT.tif)")


def track_frames(gt_dir: str | Path) -> dict[int, Path]:
    """TRA masks by frame (every frame of a complete CTC ground truth)."""
    gt = Path(gt_dir)
    tra = _indexed(gt / "TRA", _TRA_RE)
    if not tra:
        raise InputError(f"{gt}: no TRA/man_trackTTT.tif files")
    return tra


def read_mask(path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read one ground-truth mask, checking its shape against the movie's when given."""
    try:
        arr = tifffile.imread(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read ground-truth mask: {exc}") from exc
    if shape is not None and tuple(arr.shape) != tuple(shape):
        # CTC 3D SEG sometimes annotates single slices (man_seg_TTT_ZZZ); we only use full-volume masks
        raise InputError(f"{path}: mask has shape {arr.shape} but the movie frames have {tuple(shape)}")
    return arr


def evenly_spaced(frames: list[int], n: int) -> list[int]:
    """Pick ``n`` frames spread over the list (all of them when there are fewer)."""
    if n >= len(frames):
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in sorted(set(idx.tolist()))]

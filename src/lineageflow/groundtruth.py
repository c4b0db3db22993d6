"""Cell Tracking Challenge ground truth: where it is and which frames have masks.

Ground-truth masks may also be one label stack (t, [z,] y, x), as napari saves a labels layer: it serves as
segmentation masks (pixel-classifier training, segmentation scores), not as tracks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class StackFrame:
    """One frame of a ground-truth label stack, where a CTC folder has one file."""

    path: Path
    t: int

    def __str__(self) -> str:
        return f"{self.path} (frame {self.t})"


def _stack_frames(path: Path) -> dict[int, StackFrame]:
    """The frames of a ground-truth label stack that hold masks (any label > 0)."""
    from .label_images import open_label_images

    labels = open_label_images(path, what="ground-truth masks", ndim=None)
    return {t: StackFrame(path, t) for t in labels.labelled_frames()}


def mask_frames(gt_dir: str | Path) -> dict[int, Path | StackFrame]:
    """Frames with full instance masks: SEG where present (full masks), else TRA (full masks or markers); the
    frames holding masks of a label stack."""
    gt = Path(gt_dir)
    if gt.is_file():
        return _stack_frames(gt)
    if not gt.is_dir():
        raise InputError(f"{gt}: ground-truth folder does not exist")
    seg = _indexed(gt / "SEG", _SEG_RE)
    if seg:
        return seg
    tra = _indexed(gt / "TRA", _TRA_RE)
    if tra:
        return tra
    raise InputError(f"{gt}: no ground-truth masks found (expected SEG/man_segTTT.tif or TRA/man_trackTTT.tif)")


def track_frames(gt_dir: str | Path) -> dict[int, Path | StackFrame]:
    """TRA masks by frame (every frame of a complete CTC ground truth); a label stack's full masks, which serve as
    markers too."""
    gt = Path(gt_dir)
    if gt.is_file():
        return _stack_frames(gt)
    tra = _indexed(gt / "TRA", _TRA_RE)
    if not tra:
        raise InputError(f"{gt}: no TRA/man_trackTTT.tif files")
    return tra


def read_mask(path: Path | StackFrame, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read one ground-truth mask (a file, or a frame of a stack), checking its shape against the movie's when
    given."""
    try:
        if isinstance(path, StackFrame):
            from .label_images import open_label_images

            arr = open_label_images(path.path, what="ground-truth masks", ndim=None).stack.read(path.t)
        else:
            arr = tifffile.imread(path)
    except InputError:
        raise
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


# ---------------------------------------------------------------- the CTC checks, before any job runs


def check_ctc(gt_dir: str | Path, n_frames: int | None = None) -> dict:
    """The CTC consistency checks of a ground-truth folder (those traccuracy runs when it scores), fast enough to
    run before any job: TRA/man_track.txt parses, each track id is unique with B <= E, a parent exists and ends
    before its child begins; every TRA mask label is a track, present in exactly the frames B..E of its row;
    with ``n_frames``, no mask frame lies beyond the movie. Raises one InputError naming the file and what is
    wrong; returns counts."""
    gt = Path(gt_dir)
    table_path = gt / "TRA" / "man_track.txt"
    if not table_path.is_file():
        raise InputError(f"{gt}: ground truth has no TRA/man_track.txt")
    from .annotations import read_man_track

    table = read_man_track(table_path)[["L", "B", "E", "P"]].to_numpy(np.int64).reshape(-1, 4)
    masks = track_frames(gt)
    if n_frames is not None and max(masks) >= n_frames:
        raise InputError(f"{masks[max(masks)]}: ground-truth frame {max(masks)} is beyond the movie's "
                         f"{n_frames} frames")
    L, B, E, P = table.T if len(table) else (np.zeros(0, np.int64),) * 4
    # read_man_track has refused malformed lines, repeated ids and B > E
    end = dict(zip(L.tolist(), E.tolist()))
    for lab, b, p in zip(L.tolist(), B.tolist(), P.tolist()):
        if p and p not in end:
            raise InputError(f"{table_path}: track {lab} has parent {p}, which is not a track")
        if p and end[p] >= b:
            raise InputError(f"{table_path}: track {lab} begins at frame {b} but its parent {p} ends at {end[p]}")
    seen: dict[int, list[int]] = {}
    for t, path in masks.items():
        labels = np.unique(read_mask(path))
        for lab in labels[labels > 0].tolist():
            if lab not in end:
                raise InputError(f"{path}: label {lab} is not a track of {table_path.name}")
            seen.setdefault(lab, []).append(t)
    for lab, b, e in zip(L.tolist(), B.tolist(), E.tolist()):
        frames = seen.get(lab, [])
        want = [t for t in range(b, e + 1) if t in masks]
        if frames != want:
            missing = sorted(set(want) - set(frames))
            extra = sorted(set(frames) - set(want))
            what = (f"missing from the masks of frames {missing[:5]}" if missing
                    else f"also in the masks of frames {extra[:5]}")
            raise InputError(f"{table_path}: track {lab} (frames {b}..{e}) is {what}")
    return {"n_tracks": int(len(table)), "n_frames": len(masks)}


def fingerprint(gt_dir: str | Path) -> str:
    """Names, sizes and modification times of a ground truth's TRA files: changes when any of them does."""
    import hashlib

    h = hashlib.sha256()
    tra = Path(gt_dir) / "TRA"
    for p in sorted(tra.iterdir()) if tra.is_dir() else []:
        st = p.stat()
        h.update(f"{p.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def check_ctc_once(gt_dir: str | Path, n_frames: int, cache: str | Path | None) -> bool:
    """:func:`check_ctc`, skipped when ``cache`` (a JSON file) records a pass of the same files and movie length.
    Records a pass in ``cache`` (when given). Returns whether the check ran."""
    import json

    key = {"gt": str(Path(gt_dir).resolve()), "fingerprint": fingerprint(gt_dir), "n_frames": int(n_frames)}
    cache = Path(cache) if cache else None
    if cache is not None and cache.is_file():
        try:
            if json.loads(cache.read_text()) == key:
                return False
        except ValueError:
            pass  # unreadable: check again and rewrite it
    check_ctc(gt_dir, n_frames)
    if cache is not None:
        from .atomic import atomic_path

        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            tmp.write_text(json.dumps(key, sort_keys=True))
    return True

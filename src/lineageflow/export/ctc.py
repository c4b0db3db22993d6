"""Cell Tracking Challenge export: ``res_track.txt`` (L B E P) + one uint16 ``maskTTT.tif`` per frame."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from ..atomic import atomic_path
from ..errors import InputError
from ..lineage import TRACK_COLUMNS, Lineage
from .labels import Frames, relabelled_frames

TRACK_FILE = "res_track.txt"
_MASK_RE = re.compile(r"^(?:mask|man_track)(\d+)\.tiff?$")
_UINT16_MAX = np.iinfo(np.uint16).max


def mask_name(t: int, n_frames: int) -> str:
    """``maskTTT.tif``; four (or more) digits once the movie has 1000 frames or more (CTC rule)."""
    digits = 3 if n_frames < 1000 else max(4, len(str(n_frames - 1)))
    return f"mask{t:0{digits}d}.tif"


def write_ctc(
    lineage: Lineage,
    label_frames: Frames,
    n_frames: int,
    out_dir: str | Path,
) -> Path:
    """Write ``out_dir/res_track.txt`` and ``maskTTT.tif`` for every frame 0..n_frames-1, atomically.

    ``label_frames`` gives each frame's label image (a callable t -> array, or an iterable in frame order).
    Pixels of object ``label`` in frame t become its ``track_id``; objects not in the lineage are erased.
    An existing ``out_dir`` is replaced as a whole, and only once everything is written.
    """
    out_dir = Path(out_dir)
    tracks, nodes = lineage.tracks, lineage.nodes
    n_frames = int(n_frames)
    if n_frames < 1:
        raise InputError(f"CTC export to {out_dir}: n_frames must be >= 1 (got {n_frames})")
    if len(tracks) and int(tracks["L"].max()) > _UINT16_MAX:
        raise InputError(
            f"CTC export to {out_dir}: {int(tracks['L'].max())} tracks do not fit the uint16 masks CTC requires "
            f"(at most {_UINT16_MAX})"
        )
    if len(nodes) and int(nodes["frame"].max()) >= n_frames:
        last = int(nodes["frame"].max())
        raise InputError(f"CTC export to {out_dir}: lineage has objects in frame {last} but n_frames = {n_frames}")

    per_frame = {
        int(t): (g["label"].to_numpy(np.int64), g["track_id"].to_numpy(np.uint16))
        for t, g in nodes.sort_values(["frame", "label"]).groupby("frame", sort=True)
    }

    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for t, out in relabelled_frames(label_frames, n_frames, per_frame, np.uint16, f"CTC export to {out_dir}"):
            tifffile.imwrite(tmp / mask_name(t, n_frames), out, photometric="minisblack")
        rows = tracks[TRACK_COLUMNS].astype(np.int64).itertuples(index=False)
        lines = "".join(f"{r.L} {r.B} {r.E} {r.P}\n" for r in rows)
        (tmp / TRACK_FILE).write_text(lines)
    return out_dir


def read_ctc(folder: str | Path) -> tuple[pd.DataFrame, list[Path]]:
    """Read a CTC result (or GT TRA) folder: the track table (L, B, E, P) and the mask paths in frame order."""
    folder = Path(folder)
    track_file = folder / TRACK_FILE
    if not track_file.exists() and (folder / "man_track.txt").exists():
        track_file = folder / "man_track.txt"
    if not track_file.exists():
        raise InputError(f"{folder}: no {TRACK_FILE} (or man_track.txt)")
    rows = []
    for i, line in enumerate(track_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4 or not all(p.lstrip("-").isdigit() for p in parts):
            raise InputError(f"{track_file}, line {i}: expected four integers 'L B E P', got {line!r}")
        rows.append([int(p) for p in parts])
    tracks = pd.DataFrame(np.array(rows, dtype=np.int64).reshape(-1, 4), columns=TRACK_COLUMNS)
    masks = {}
    for p in folder.iterdir():
        m = _MASK_RE.match(p.name)
        if m:
            t = int(m.group(1))
            if t in masks:
                raise InputError(f"{folder}: two mask files for frame {t}: {masks[t].name}, {p.name}")
            masks[t] = p
    return tracks, [masks[t] for t in sorted(masks)]

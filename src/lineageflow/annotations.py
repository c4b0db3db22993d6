"""Object annotations for the division and count classifiers: from a user CSV or derived from CTC ground truth.

Both sources give the same long table ``ANNOTATION_COLUMNS`` = (frame, label, kind, value), one row per
annotated object and kind: kind ``count`` (value 0 = false detection, 1, 2, ... objects in it) or kind
``division`` (value 1 = divides after this frame, 0 = does not). ``targets`` turns it into one value per row of
an object table (NaN = not annotated), the form the training functions in ``classifiers`` take.

Annotation CSV format (``read_annotation_csv``), one annotation per row, header required, column names
case-insensitive, ``#`` lines and blank lines ignored::

    frame,label,class            frame,x,y,class          frame,x,y,z,class
    3,17,division                3,120.5,40,2             3,120,40,7,no_division

* ``frame``: time point (0-based, as in the object tables).
* the object: either ``label`` (its label in that frame's label image) or its position ``x``, ``y`` (and ``z``
  for 3D) in pixels (column, row, slice; rounded to the nearest pixel): the object whose label image contains
  that pixel. Not both.
* ``class``: ``division`` (or ``dividing``), ``no_division`` (or ``not_dividing``), ``false_detection``
  (= count 0), or a non-negative integer = number of cells in the object (0, 1, 2, ...).
* an optional ``note`` column is ignored. The same object may be annotated on two rows (a count and a division);
  contradicting rows are an error.

Errors (``InputError``) name the file, the line and what is wrong: unknown/missing columns, bad class, a frame
outside the movie, a label that is not in that frame's object table, a position outside the image or on
background.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "ANNOTATION_COLUMNS",
    "read_man_track",
    "dividing_parents",
    "annotations_from_gt",
    "annotations_from_gt_dir",
    "read_annotation_csv",
    "targets",
    "check_same_dataset",
]

ANNOTATION_COLUMNS = ["frame", "label", "kind", "value"]
KINDS = ("count", "division")

_DIVISION_WORDS = {"division": 1, "dividing": 1, "no_division": 0, "not_dividing": 0, "nodivision": 0}
_CSV_COLUMNS = ("frame", "label", "x", "y", "z", "class", "note")


def _empty_annotations() -> pd.DataFrame:
    return pd.DataFrame({"frame": np.empty(0, np.int64), "label": np.empty(0, np.int64),
                         "kind": np.empty(0, object), "value": np.empty(0, np.int64)})


def _finish(rows: list[tuple[int, int, str, int]]) -> pd.DataFrame:
    if not rows:
        return _empty_annotations()
    df = pd.DataFrame(rows, columns=ANNOTATION_COLUMNS).astype({"frame": "int64", "label": "int64", "value": "int64"})
    return df.sort_values(["frame", "label", "kind"], kind="stable").reset_index(drop=True)


# --- CTC ground truth --------------------------------------------------------------------------------------------

def read_man_track(path: str | Path) -> pd.DataFrame:
    """Read a CTC ``man_track.txt`` (lines ``L B E P``) into a DataFrame with int64 columns L, B, E, P."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the CTC track file: {exc}") from exc
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4:
            raise InputError(f"{path} line {n}: expected 4 numbers 'L B E P', got {line.strip()!r}")
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            raise InputError(f"{path} line {n}: expected 4 integers 'L B E P', got {line.strip()!r}") from None
        lab, b, e, p = vals
        if lab <= 0 or b < 0 or p < 0 or e < b:
            raise InputError(f"{path} line {n}: invalid track {line.strip()!r} (need L > 0, 0 <= B <= E, P >= 0)")
        rows.append(vals)
    df = pd.DataFrame(rows, columns=["L", "B", "E", "P"], dtype="int64")
    if df.empty:
        return df.astype("int64")
    dup = df["L"].duplicated()
    if dup.any():
        raise InputError(f"{path}: track {int(df.loc[dup, 'L'].iloc[0])} is listed more than once")
    unknown = ~df["P"].isin(df["L"]) & (df["P"] != 0)
    if unknown.any():
        r = df[unknown].iloc[0]
        raise InputError(f"{path}: track {r['L']} has parent {r['P']}, which is not a track in the file")
    return df


def dividing_parents(man_track: pd.DataFrame, *, min_children: int = 2) -> dict[int, int]:
    """Tracks that divide, mapped to their end frame E (the frame whose object divides).

    A division is a parent with at least ``min_children`` (default 2) child tracks, as traccuracy counts
    divisions. A parent with one child is a CTC track gap (or a daughter outside the field of view) and is not a
    division by default. The children may start a few frames after E (Fluo-N3DH-CHO): still a division at E.
    """
    children = man_track.loc[man_track["P"] != 0, "P"].value_counts()
    div = set(children[children >= min_children].index.tolist())
    ends = man_track.set_index("L")["E"]
    return {int(p): int(ends[p]) for p in sorted(div)}


def coverage(our_labels: np.ndarray, gt_tra: np.ndarray) -> dict[int, list[int]]:
    """Which GT objects each of our objects covers, by the CTC rule: a GT object is covered by the one of our
    objects that holds more than half of its pixels. {our label: [GT labels, ascending]} (objects covering
    none are absent)."""
    ours = np.asarray(our_labels).ravel().astype(np.int64)
    gt = np.asarray(gt_tra).ravel().astype(np.int64)
    fg = gt > 0
    if not fg.any():
        return {}
    g = gt[fg]
    o = ours[fg]
    gt_ids, gt_size = np.unique(g, return_counts=True)
    # Overlap of every (gt, ours) pair in one pass, via one int64 key per pair.
    base = int(o.max()) + 1
    keys, overlap = np.unique(g * base + o, return_counts=True)
    size_of = dict(zip(gt_ids.tolist(), gt_size.tolist()))
    covered: dict[int, list[int]] = {}
    for gl, ol, n in zip((keys // base).tolist(), (keys % base).tolist(), overlap.tolist()):
        if ol > 0 and 2 * n > size_of[gl]:  # > 50 % of the GT object's pixels
            covered.setdefault(ol, []).append(gl)
    return covered


def annotations_from_gt(
    our_labels: np.ndarray,
    gt_tra: np.ndarray,
    table: pd.DataFrame,
    *,
    dividing: Mapping[int, int],
    frame: int | None = None,
    source: str = "",
) -> pd.DataFrame:
    """Counts and divisions of our objects of one frame, from the CTC TRA ground truth of that frame.

    A GT object is covered by the one of our objects that holds more than half of its pixels (the CTC matching
    rule; works for marker GT, i.e. small blobs inside the nuclei). ``count`` = number of GT objects an object
    covers (0 = false detection, >= 2 = merger). ``division`` = 1 if the object covers exactly one GT object and
    that GT track is in ``dividing`` (track -> end frame, see ``dividing_parents``) with end frame == ``frame``.
    Returns a DataFrame indexed (frame, label) like ``table`` with int64 columns count, division, gt_label
    (the covered GT label when count == 1, else 0).
    """
    where = f"{source}: " if source else ""
    our_labels = np.asarray(our_labels)
    gt_tra = np.asarray(gt_tra)
    if our_labels.shape != gt_tra.shape:
        raise InputError(f"{where}label image shape {our_labels.shape} differs from the GT TRA shape {gt_tra.shape}")
    frames = pd.unique(table["frame"]) if len(table) else []
    if len(frames) > 1:
        raise InputError(f"{where}annotations_from_gt takes the objects of one frame, got frames {list(frames)}")
    if frame is None:
        frame = int(frames[0]) if len(frames) else -1
    elif len(frames) and int(frames[0]) != frame:
        raise InputError(f"{where}object table is of frame {int(frames[0])}, not frame {frame}")
    labels = table["label"].to_numpy(np.int64)
    index = pd.MultiIndex.from_arrays([np.full(len(labels), frame, np.int64), labels], names=["frame", "label"])
    out = pd.DataFrame({"count": np.zeros(len(labels), np.int64), "division": np.zeros(len(labels), np.int64),
                        "gt_label": np.zeros(len(labels), np.int64)}, index=index)
    ours = our_labels.ravel().astype(np.int64)
    present = np.unique(ours[ours > 0])
    missing = np.setdiff1d(labels, present)
    if missing.size:
        raise InputError(f"{where}object table lists label(s) {missing[:5].tolist()} that are not in the label "
                         f"image of frame {frame} (table and labels from different runs?)")
    if not len(labels):
        return out
    covered = coverage(our_labels, gt_tra)
    pos = {lab: i for i, lab in enumerate(labels.tolist())}
    for ol, gls in covered.items():
        i = pos.get(ol)
        if i is None:  # an object of the image that the table leaves out: nothing to annotate
            continue
        out.iloc[i, 0] = len(gls)
        if len(gls) == 1:
            out.iloc[i, 2] = gls[0]
            out.iloc[i, 1] = int(dividing.get(gls[0], -1) == frame)
    return out


def annotations_from_gt_dir(
    gt_dir: str | Path,
    frames: Iterable[int],
    labels_at: Callable[[int], np.ndarray],
    table: pd.DataFrame,
) -> pd.DataFrame:
    """Annotation table (ANNOTATION_COLUMNS, both kinds for every object) of ``frames`` from a CTC GT folder.

    ``labels_at(t)`` returns our label image of frame t; ``table`` holds our objects of those frames.
    """
    from .groundtruth import read_mask, track_frames

    gt_dir = Path(gt_dir)
    tra = track_frames(gt_dir)
    dividing = dividing_parents(read_man_track(gt_dir / "TRA" / "man_track.txt"))
    rows: list[tuple[int, int, str, int]] = []
    for t in frames:
        if t not in tra:
            raise InputError(f"{gt_dir}: no TRA mask for frame {t} (TRA/man_track{t:03d}.tif)")
        lab = np.asarray(labels_at(t))
        gt = read_mask(tra[t], lab.shape)
        sub = table[table["frame"] == t]
        ann = annotations_from_gt(lab, gt, sub, dividing=dividing, frame=t, source=str(tra[t]))
        for (f, lab_id), c, d in zip(ann.index, ann["count"], ann["division"]):
            rows.append((int(f), int(lab_id), "count", int(c)))
            rows.append((int(f), int(lab_id), "division", int(d)))
    return _finish(rows)


# --- user CSV ----------------------------------------------------------------------------------------------------

def _parse_class(value: str) -> tuple[str, int] | None:
    v = value.strip().lower().replace("-", "_").replace(" ", "_")
    if v in _DIVISION_WORDS:
        return "division", _DIVISION_WORDS[v]
    if v in ("false_detection", "false", "background"):
        return "count", 0
    try:
        f = float(v)
    except ValueError:
        return None
    if f >= 0 and f == int(f):
        return "count", int(f)
    return None


def _number(text: str, what: str, where: str, integer: bool) -> float:
    try:
        val = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(val) or (integer and val != int(val)):
        raise InputError(f"{where}: {what} {text!r} is not {'an integer' if integer else 'a finite number'}")
    return val


def read_annotation_csv(
    path: str | Path,
    tables: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    labels: Mapping[int, np.ndarray] | Callable[[int, int, int, int], int] | None = None,
    n_frames: int | None = None,
) -> pd.DataFrame:
    """Read a user annotation CSV (format in the module docstring) into ANNOTATION_COLUMNS.

    ``tables``: our object tables (frame, label) the annotations must refer to. ``labels``: needed for
    position rows: a mapping frame -> label image, or a callable ``label_at(frame, z, y, x) -> label`` (z = 0
    when the CSV has no z column). ``n_frames``: the movie's frame count (for the "frame out of range" check).
    """
    path = Path(path)
    table = tables if isinstance(tables, pd.DataFrame) else pd.concat(list(tables), ignore_index=True)
    known = set(zip(table["frame"].astype(int).tolist(), table["label"].astype(int).tolist()))
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheet exports start with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the annotation CSV: {exc}") from exc
    # Keep the file's line numbers for the messages; comments and blank lines are skipped.
    numbered = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1)
                if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise InputError(f"{path}: annotation CSV is empty (expected a header such as 'frame,label,class')")
    rows_iter = csv.reader([ln for _, ln in numbered])
    header = [h.strip().lower() for h in next(rows_iter)]
    head_line = numbered[0][0]
    unknown = [h for h in header if h not in _CSV_COLUMNS]
    if unknown:
        raise InputError(f"{path} line {head_line}: unknown column(s) {unknown}; accepted columns: frame, label or "
                         f"x,y[,z], class[, note]")
    dups = {h for h in header if header.count(h) > 1}
    if dups:
        raise InputError(f"{path} line {head_line}: column(s) {sorted(dups)} appear more than once")
    if "frame" not in header or "class" not in header:
        raise InputError(f"{path} line {head_line}: the header needs columns 'frame' and 'class' "
                         f"(and 'label' or 'x,y[,z]'); got {header}")
    by_label = "label" in header
    by_pos = any(c in header for c in ("x", "y", "z"))
    if by_label == by_pos:
        raise InputError(f"{path} line {head_line}: give the object either by 'label' or by position 'x,y[,z]' "
                         f"(one of the two); got {header}")
    if by_pos and not ("x" in header and "y" in header):
        raise InputError(f"{path} line {head_line}: position columns need both 'x' and 'y' (and 'z' for 3D); "
                         f"got {header}")
    if by_pos and labels is None:
        raise InputError(f"{path}: annotations by position (x, y) need the label images to find the objects")
    col = {h: i for i, h in enumerate(header)}
    table_frames = set(table["frame"].astype(int).tolist())
    seen: dict[tuple[int, int, str], tuple[int, int]] = {}
    out: list[tuple[int, int, str, int]] = []
    for (line_no, _), row in zip(numbered[1:], rows_iter):
        where = f"{path} line {line_no}"
        if len(row) != len(header):
            raise InputError(f"{where}: {len(row)} fields, but the header has {len(header)}")
        cell = {h: row[i].strip() for h, i in col.items()}
        frame = int(_number(cell["frame"], "frame", where, integer=True))
        if frame < 0 or (n_frames is not None and frame >= n_frames):
            span = f" (the movie has frames 0..{n_frames - 1})" if n_frames is not None else ""
            raise InputError(f"{where}: frame {frame} is out of range{span}")
        if frame not in table_frames:
            raise InputError(f"{where}: frame {frame} has no objects in the object tables")
        parsed = _parse_class(cell["class"])
        if parsed is None:
            raise InputError(f"{where}: class {cell['class']!r} is not one of division, no_division, "
                             f"false_detection or a cell count 0, 1, 2, ...")
        kind, value = parsed
        if by_label:
            label = int(_number(cell["label"], "label", where, integer=True))
            if (frame, label) not in known:
                raise InputError(f"{where}: frame {frame} has no object with label {label}")
        else:
            label = _label_at_position(labels, frame, cell, where)
            if (frame, label) not in known:
                raise InputError(f"{where}: the object with label {label} at this position is not in the object "
                                 f"table of frame {frame} (table and label images from different runs?)")
        key = (frame, label, kind)
        if key in seen and seen[key][1] != value:
            raise InputError(f"{where}: contradicts line {seen[key][0]} (frame {frame}, label {label}: {kind} "
                             f"{seen[key][1]} vs {value})")
        if key not in seen:
            seen[key] = (line_no, value)
            out.append((frame, label, kind, value))
    return _finish(out)


def _label_at_position(labels, frame: int, cell: dict, where: str) -> int:
    x = round(_number(cell["x"], "x", where, integer=False))
    y = round(_number(cell["y"], "y", where, integer=False))
    z = round(_number(cell["z"], "z", where, integer=False)) if cell.get("z", "") != "" else None
    desc = f"(x={cell['x']}, y={cell['y']}" + (f", z={cell['z']})" if z is not None else ")")
    if isinstance(labels, Mapping):
        if frame not in labels:
            raise InputError(f"{where}: frame {frame} is out of range (no label image for it)")
        img = np.asarray(labels[frame])
        if img.ndim == 3 and z is None:
            raise InputError(f"{where}: the data are 3D; position rows need a 'z' value")
        idx = (y, x) if img.ndim == 2 else (z, y, x)
        if img.ndim == 2 and z not in (None, 0):
            raise InputError(f"{where}: the data are 2D; z must be empty or 0, got {cell['z']}")
        if any(i < 0 or i >= s for i, s in zip(idx, img.shape)):
            raise InputError(f"{where}: position {desc} is outside the image (shape {img.shape}, axes "
                             f"{'yx' if img.ndim == 2 else 'zyx'})")
        label = int(img[idx])
    else:
        if min(x, y, z or 0) < 0:
            raise InputError(f"{where}: position {desc} is outside the image (negative)")
        try:
            label = int(labels(frame, z or 0, y, x))
        except (IndexError, KeyError) as exc:
            raise InputError(f"{where}: position {desc} is outside the image or frame {frame} does not exist "
                             f"({exc})") from None
    if label == 0:
        raise InputError(f"{where}: position {desc} in frame {frame} is on background (no object there)")
    return label


# --- helpers -----------------------------------------------------------------------------------------------------

def targets(annotations: pd.DataFrame, table: pd.DataFrame, kind: str) -> np.ndarray:
    """One float per row of ``table``: the annotated value of ``kind`` for that object, NaN where unannotated."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    sub = annotations[annotations["kind"] == kind]
    lookup = dict(zip(zip(sub["frame"].astype(int), sub["label"].astype(int)), sub["value"].astype(float)))
    return np.array([lookup.get((int(f), int(lab)), np.nan) for f, lab in zip(table["frame"], table["label"])],
                    dtype=float)


def _norm(key: str, value):
    if value is None:
        return None
    if key == "voxel_size":
        return tuple(round(float(v), 9) for v in value)
    if key == "spatial_shape":
        return tuple(int(v) for v in value)
    return int(value)


def check_same_dataset(meta_a: Mapping, meta_b: Mapping, source: str) -> None:
    """Raise InputError when two object tables (their metadata) come from different datasets.

    Compared: spatial_shape, n_frames, voxel_size (keys missing from either side are not compared).
    ``source`` names the table being checked.
    """
    diffs = []
    for key in ("spatial_shape", "n_frames", "voxel_size"):
        a, b = meta_a.get(key), meta_b.get(key)
        if a is None or b is None:
            continue
        if _norm(key, a) != _norm(key, b):
            diffs.append(f"{key} {list(a) if isinstance(a, (list, tuple)) else a} vs "
                         f"{list(b) if isinstance(b, (list, tuple)) else b}")
    if diffs:
        what = f" ({meta_b.get('movie')})" if meta_b.get("movie") else ""
        raise InputError(f"{source}: object table comes from another dataset{what}: " + "; ".join(diffs))

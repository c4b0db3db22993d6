"""MaMuT export: the TrackMate/MaMuT XML that Fiji's MaMuT plugin opens, and the BigDataViewer XML + HDF5 of the
raw movie that it points to.

Folder layout (everything relative, so the folder can be moved)::

    mamut.xml   TrackMate XML (Model: FeatureDeclarations, AllSpots, AllTracks, FilteredTracks; Settings with
                ImageData -> bdv.xml; GUIState with a MaMuT viewer and the display range of each channel)
    bdv.xml     BigDataViewer SpimData (written by pybdv), one ViewSetup per raw channel
    bdv.h5      BigDataViewer HDF5 (pybdv), written frame by frame (memory bounded by one frame)

Coordinates are physical (voxel size, in micrometres): POSITION_X/Y/Z = voxel centre * voxel size, which is
where BigDataViewer's calibration affine puts the voxel, so spots sit on their cells. POSITION_T is the frame
(time unit "frame"). Spot IDs are 0..n-1 in (frame, label) order. Every link of the lineage is one Edge; every
lineage (weakly connected component) with at least one link is one Track, named after its lineage id (a
lineage of a single object is a lone spot: TrackMate has no one-spot tracks). Spots carry numeric attributes
only: TrackMate's own (POSITION_*, FRAME, RADIUS = radius of the sphere of the object's volume, QUALITY =
1 - P(count = 0), VISIBILITY, SOURCE_ID) and every numeric column of the object table: under TrackMate 7's own
feature where TrackMate measures the same quantity (MEAN/MIN/MAX/TOTAL/STD_INTENSITY_CHn of the channel the
features were measured on, n = SOURCE_ID + 1; AREA in 2D), declared as TrackMate 7 declares them, else upper-cased
(LABEL, TRACKLET_ID = CTC track id, PARENT_TRACKLET_ID, LINEAGE_ID, MERGER_LABEL, SIZE, VOLUME ...).
Output is deterministic: the same lineage and movie give the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import networkx as nx
import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError
from ..lineage import Lineage

MAMUT_XML = "mamut.xml"
BDV_XML = "bdv.xml"
BDV_H5 = "bdv.h5"
SPACE_UNIT = "micrometer"  # config voxel_size is in micrometres (OME-Zarr's name for the unit)
TIME_UNIT = "frame"
TRACKMATE_VERSION = "7.0.0"
_UINT16_MAX = 65535
_PYRAMID_MAX_XY = 1024  # add a 2x downsampled level while a frame is larger than this in y or x

# TrackMate's own spot, edge and track features (name, shortname, dimension, isint), as MaMuT writes them.
_SPOT_FEATURES = [
    ("QUALITY", "Quality", "Quality", "QUALITY", False),
    ("POSITION_X", "X", "X", "POSITION", False),
    ("POSITION_Y", "Y", "Y", "POSITION", False),
    ("POSITION_Z", "Z", "Z", "POSITION", False),
    ("POSITION_T", "T", "T", "TIME", False),
    ("FRAME", "Frame", "Frame", "NONE", True),
    ("RADIUS", "Radius", "R", "LENGTH", False),
    ("VISIBILITY", "Visibility", "Visibility", "NONE", True),
    ("SOURCE_ID", "Source ID", "Source", "NONE", True),
]
_EDGE_FEATURES = [
    ("SPOT_SOURCE_ID", "Source spot ID", "Source ID", "NONE", True),
    ("SPOT_TARGET_ID", "Target spot ID", "Target ID", "NONE", True),
    ("LINK_COST", "Link cost", "Cost", "NONE", False),
    ("VELOCITY", "Velocity", "V", "VELOCITY", False),
    ("DISPLACEMENT", "Displacement", "D", "LENGTH", False),
]
_TRACK_FEATURES = [
    ("TRACK_INDEX", "Track index", "Index", "NONE", True),
    ("TRACK_ID", "Track ID", "ID", "NONE", True),
    ("TRACK_DURATION", "Duration of track", "Duration", "TIME", False),
    ("TRACK_START", "Track start", "T start", "TIME", False),
    ("TRACK_STOP", "Track stop", "T stop", "TIME", False),
    ("TRACK_DISPLACEMENT", "Track displacement", "Displacement", "LENGTH", False),
    ("NUMBER_SPOTS", "Number of spots in track", "N spots", "NONE", True),
    ("NUMBER_GAPS", "Number of gaps", "Gaps", "NONE", True),
    ("LONGEST_GAP", "Longest gap", "Longest gap", "NONE", True),
    ("NUMBER_SPLITS", "Number of split events", "Splits", "NONE", True),
    ("NUMBER_MERGES", "Number of merge events", "Merges", "NONE", True),
    ("NUMBER_COMPLEX", "Complex points", "Complex", "NONE", True),
]
# Analyzer keys of a MaMuT file (lineagetree's test-mamut.xml, written by MaMuT itself).
_ANALYZERS = {
    "SpotAnalyzers": ["Spot Source ID", "CELL_DIVISION_TIME_ON_SPOTS", "MANUAL_SPOT_COLOR_ANALYZER"],
    "EdgeAnalyzers": ["Edge target", "Edge velocity", "MANUAL_EDGE_COLOR_ANALYZER"],
    "TrackAnalyzers": ["Track index", "Track duration", "Branching analyzer", "CELL_DIVISION_TIME_ANALYZER"],
}

# Object-table columns written under TrackMate 7's own spot features (SpotIntensityMultiCAnalyzer per channel n,
# SpotShapeAnalyzer in 2D): column -> (feature, name, shortname, dimension, transform) exactly as TrackMate 7
# declares them, with {n} the 1-based channel the intensities were measured on.
_TRACKMATE_FEATURES = {
    "intensity_mean": ("MEAN_INTENSITY_CH{n}", "Mean intensity ch{n}", "Mean ch{n}", "INTENSITY", None),
    "intensity_min": ("MIN_INTENSITY_CH{n}", "Min intensity ch{n}", "Min ch{n}", "INTENSITY", None),
    "intensity_max": ("MAX_INTENSITY_CH{n}", "Max intensity ch{n}", "Max ch{n}", "INTENSITY", None),
    "intensity_sum": ("TOTAL_INTENSITY_CH{n}", "Sum intensity ch{n}", "Sum ch{n}", "INTENSITY", None),
    "intensity_var": ("STD_INTENSITY_CH{n}", "Std intensity ch{n}", "Std ch{n}", "INTENSITY", np.sqrt),
}
_TRACKMATE_FEATURES_2D = {"volume": ("AREA", "Area", "Area", "AREA", None)}  # physical area of a 2D object
# Other object-table columns: their feature name and dimension (only TrackMate/pycellin-known dimensions).
_COLUMN_FEATURES = {
    "label": ("LABEL", "Object label", "NONE"),
    "track_id": ("TRACKLET_ID", "CTC track id", "NONE"),
    "parent_track": ("PARENT_TRACKLET_ID", "CTC parent track id", "NONE"),
    "lineage_id": ("LINEAGE_ID", "Lineage id", "NONE"),
    "merger_label": ("MERGER_LABEL", "Label of the merger split into this object", "NONE"),
    "size": ("SIZE", "Size in pixels", "NONE"),
    "radius_0": ("RADIUS_0", "Principal radius 0", "LENGTH"),
    "radius_1": ("RADIUS_1", "Principal radius 1", "LENGTH"),
    "radius_2": ("RADIUS_2", "Principal radius 2", "LENGTH"),
    "border_distance": ("BORDER_DISTANCE", "Distance to the border", "LENGTH"),
    "border_distance_yx": ("BORDER_DISTANCE_YX", "Distance to the y/x border", "LENGTH"),
}
_SKIP_COLUMNS = {"frame", "pos_z", "pos_y", "pos_x", "spatial_ndim"}
_RESERVED = {f[0] for f in _SPOT_FEATURES} | {"ID", "name", "TRACK_ID"}


def _num(value) -> str:
    """A number as Java's Double.parseDouble / Integer.parseInt read it (NaN, Infinity; shortest repr)."""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def _feature(feature: str, name: str, shortname: str, dimension: str, isint: bool) -> str:
    return (f"<Feature feature={quoteattr(feature)} name={quoteattr(name)} shortname={quoteattr(shortname)} "
            f"dimension={quoteattr(dimension)} isint=\"{'true' if isint else 'false'}\" />")


def _spot_columns(nodes: pd.DataFrame, ndim: int, channel: int) -> list[tuple]:
    """(feature, name, shortname, dimension, isint, values) for every numeric object-table column written on
    spots: under TrackMate 7's name where TrackMate has the quantity, else upper-cased. ``channel``: 1-based."""
    out, used = [], set(_RESERVED)
    own = {**_TRACKMATE_FEATURES, **(_TRACKMATE_FEATURES_2D if ndim == 2 else {})}
    for col in nodes.columns:
        if col in _SKIP_COLUMNS:
            continue
        kind = nodes[col].dtype.kind
        if kind not in "biuf":
            continue  # numeric attributes only
        values = nodes[col].to_numpy()
        if col in own:
            feature, name, short, dim, transform = (v.format(n=channel) if isinstance(v, str) else v
                                                    for v in own[col])
            values = transform(values.astype(float)) if transform else values
        else:
            feature, name, dim = _COLUMN_FEATURES.get(col, (col.upper(), col.replace("_", " "), "NONE"))
            short = name
        if feature in used:
            feature = f"LF_{feature}"
        used.add(feature)
        out.append((feature, name, short, dim, kind in "biu", values))
    return out


def _radius(nodes: pd.DataFrame, ndim: int, voxel_size: Sequence[float]) -> np.ndarray:
    """Radius of the sphere (3D) or disc (2D) of the object's physical volume."""
    if "volume" in nodes.columns:
        vol = nodes["volume"].to_numpy(float)
    elif "size" in nodes.columns:
        vol = nodes["size"].to_numpy(float) * float(np.prod(voxel_size))
    else:
        return np.ones(len(nodes))
    return np.sqrt(vol / math.pi) if ndim == 2 else np.cbrt(3.0 * vol / (4.0 * math.pi))


def _positions(nodes: pd.DataFrame, ndim: int) -> np.ndarray:
    """(n, 3) physical x, y, z (z = 0 in 2D)."""
    out = np.zeros((len(nodes), 3))
    for i, ax in enumerate("xyz"):
        col = f"pos_{ax}"
        if col in nodes.columns and not (ax == "z" and ndim == 2):
            out[:, i] = nodes[col].to_numpy(float)
        elif ax != "z" or ndim == 3:
            raise InputError(f"MaMuT export: the lineage's object table has no column {col!r} (physical position)")
    return out


# --- BigDataViewer -----------------------------------------------------------------------------------------------

def _intensity_mapping(raw_at: Callable[[int], np.ndarray], n_frames: int, dtype: np.dtype):
    """How raw values become BigDataViewer's unsigned 16 bit: None (as they are) or (offset, scale)."""
    if dtype in (np.dtype(np.uint8), np.dtype(np.uint16)):
        return None
    lo, hi, integral = math.inf, -math.inf, True
    for t in range(n_frames):
        a = np.asarray(raw_at(t))
        finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
            if integral and a.dtype.kind == "f":
                integral = bool(np.all(finite == np.round(finite)))
    if not math.isfinite(lo):
        return (0.0, 0.0)
    if integral and lo >= 0 and hi <= _UINT16_MAX:
        return None
    return (lo, (_UINT16_MAX / (hi - lo)) if hi > lo else 0.0)


def _to_uint16(a: np.ndarray, mapping) -> np.ndarray:
    """BigDataViewer's HDF5 holds unsigned 16 bit (stored as int16, as BigDataViewer's own exporter does)."""
    if mapping is None:
        return a if a.dtype == np.uint16 else a.astype(np.uint16)
    lo, scale = mapping
    out = np.nan_to_num((a.astype(np.float64) - lo) * scale, nan=0.0, posinf=_UINT16_MAX, neginf=0.0)
    return np.clip(np.round(out), 0, _UINT16_MAX).astype(np.uint16)


def bdv_voxel_size(voxel_size: Sequence[float]) -> list[float]:
    """(z, y, x) voxel size of the BigDataViewer image; a 2D movie is one slice as thick as a pixel is wide."""
    vs = [float(v) for v in voxel_size]
    return vs if len(vs) == 3 else [vs[-1], *vs]


def _pyramid(shape_zyx: tuple[int, int, int], vs_zyx: Sequence[float]) -> list[list[int]] | None:
    """Relative downscale factors (z, y, x) per level: 2x in y/x while the level is larger than 1024 pixels;
    z too when it is as finely sampled as y/x."""
    factors, (z, y, x), (dz, dy, _) = [], shape_zyx, vs_zyx
    while max(y, x) > _PYRAMID_MAX_XY:
        fz = 2 if z > 64 and dz <= dy else 1
        factors.append([fz, 2, 2])
        z, y, x, dz, dy = max(1, z // fz), max(1, y // 2), max(1, x // 2), dz * fz, dy * 2
    return factors or None


def write_bdv(
    raw_at: Callable[[int], np.ndarray],
    n_frames: int,
    out_h5: str | Path,
    voxel_size: Sequence[float],
) -> dict:
    """BigDataViewer XML/HDF5 (pybdv) of a movie, one frame at a time: ``out_h5`` and its ``.xml`` sibling.

    ``raw_at(t)`` gives frame t as (y, x) or (z, y, x), with a trailing channel axis for several channels
    (``len(voxel_size)`` tells the spatial dimensions). Values are written as BigDataViewer's unsigned 16 bit:
    kept when they are integers in 0..65535 (8 bit is widened), else mapped linearly from the movie's range.
    Returns the channels' display range and the mapping used.
    """
    import pybdv

    ndim = len(voxel_size)
    first = np.asarray(raw_at(0))
    if first.ndim not in (ndim, ndim + 1):
        raise InputError(f"BigDataViewer export: frame 0 has shape {first.shape}, expected {ndim} spatial axes "
                         f"(voxel size {list(voxel_size)}) and an optional channel axis")
    n_ch = first.shape[-1] if first.ndim == ndim + 1 else 1
    spatial = first.shape[:ndim]
    mapping = _intensity_mapping(raw_at, n_frames, first.dtype)
    vs_zyx = bdv_voxel_size(voxel_size)
    shape_zyx = tuple(spatial) if ndim == 3 else (1, *spatial)
    factors = _pyramid(shape_zyx, vs_zyx)
    lo, hi = [math.inf] * n_ch, [-math.inf] * n_ch
    for t in range(n_frames):
        frame = first if t == 0 else np.asarray(raw_at(t))
        if frame.shape != first.shape:
            raise InputError(f"BigDataViewer export: frame {t} has shape {frame.shape}, frame 0 has {first.shape}")
        for c in range(n_ch):
            img = frame[..., c] if n_ch > 1 or frame.ndim == ndim + 1 else frame
            img = _to_uint16(img, mapping).reshape(shape_zyx)
            if img.size:
                lo[c], hi[c] = min(lo[c], int(img.min())), max(hi[c], int(img.max()))
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                    warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Setup .* is present")
                pybdv.make_bdv(img, str(out_h5), downscale_factors=factors, downscale_mode="nearest",
                               resolution=vs_zyx, unit=SPACE_UNIT, setup_id=c, timepoint=t,
                               setup_name=f"channel {c + 1}" if n_ch > 1 else "raw",
                               attributes={"channel": {"id": c, "name": str(c + 1)}}, convert_dtype=True)
    ranges = [(0, 0) if not math.isfinite(a) else (a, b) for a, b in zip(lo, hi)]
    return {"n_channels": n_ch, "shape_zyx": shape_zyx, "voxel_size_zyx": vs_zyx, "display_ranges": ranges,
            "intensity_mapping": mapping, "n_levels": 1 + len(factors or [])}


# --- TrackMate / MaMuT XML ---------------------------------------------------------------------------------------

def _tracks(lineage: Lineage, spot_id: dict, frame_of: np.ndarray, pos: np.ndarray):
    """One entry per lineage with at least one link: (track id, edges (src, dst) spot ids, stats)."""
    graph = lineage.graph
    comps = sorted((sorted(c) for c in nx.weakly_connected_components(graph) if len(c) > 1), key=lambda c: c[0])
    lin_col = "lineage_id" in lineage.nodes.columns
    out = []
    for comp in comps:
        first = comp[0]
        tid = int(graph.nodes[first]["lineage_id"]) if lin_col else len(out)
        edges = sorted((spot_id[u], spot_id[v]) if u[0] < v[0] else (spot_id[v], spot_id[u])
                       for u, v in graph.subgraph(comp).edges())
        ids = np.array([spot_id[n] for n in comp])
        frames = frame_of[ids]
        gaps = [int(frame_of[b] - frame_of[a]) - 1 for a, b in edges]
        n_out = np.bincount(np.array([a for a, _ in edges]), minlength=len(frame_of))[ids]
        start, stop = int(frames.min()), int(frames.max())
        a = ids[np.lexsort((ids, frames))][0]
        b = ids[np.lexsort((ids, -frames))][0]
        out.append((tid, edges, {
            "TRACK_DURATION": float(stop - start), "TRACK_START": float(start), "TRACK_STOP": float(stop),
            "TRACK_DISPLACEMENT": float(np.linalg.norm(pos[b] - pos[a])),
            "NUMBER_SPOTS": len(comp), "NUMBER_GAPS": sum(g > 0 for g in gaps),
            "LONGEST_GAP": max([g for g in gaps if g > 0], default=0), "NUMBER_SPLITS": int((n_out >= 2).sum()),
            "NUMBER_MERGES": 0, "NUMBER_COMPLEX": 0,
        }))
    return out


def write_mamut_xml(
    lineage: Lineage,
    path: str | Path,
    *,
    voxel_size: Sequence[float],
    n_frames: int,
    image_shape_zyx: Sequence[int],
    bdv_xml: str = BDV_XML,
    display_ranges: Sequence[tuple[int, int]] = ((0, _UINT16_MAX),),
    source_id: int = 0,
) -> dict:
    """Write the TrackMate/MaMuT XML of ``lineage`` to ``path`` (not atomically: a helper of :func:`write_mamut`).

    ``image_shape_zyx``: the BigDataViewer image (1 slice in 2D); ``bdv_xml``: its file name, next to ``path``.
    """
    ndim = len(voxel_size)
    nodes = lineage.nodes.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    frame_of = nodes["frame"].to_numpy(np.int64)
    keys = list(zip(frame_of.tolist(), nodes["label"].astype(np.int64).tolist()))
    spot_id = {k: i for i, k in enumerate(keys)}
    pos = _positions(nodes, ndim)
    radius = _radius(nodes, ndim, voxel_size)
    quality = (1.0 - nodes["p_count_0"].to_numpy(float)) if "p_count_0" in nodes.columns else np.ones(len(nodes))
    quality = np.where(np.isfinite(quality), quality, 1.0)
    columns = _spot_columns(nodes, ndim, source_id + 1)
    tracks = _tracks(lineage, spot_id, frame_of, pos)
    vs_xyz = bdv_voxel_size(voxel_size)[::-1]

    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for chunk in _xml_chunks(nodes, frame_of, pos, radius, quality, columns, tracks, vs_xyz, n_frames,
                                 image_shape_zyx, bdv_xml, display_ranges, source_id):
            fh.write(chunk)
    n_div = sum(s["NUMBER_SPLITS"] for _, _, s in tracks)
    return {"n_spots": len(nodes), "n_edges": sum(len(e) for _, e, _ in tracks), "n_tracks": len(tracks),
            "n_divisions": n_div, "n_lone_spots": len(nodes) - sum(s["NUMBER_SPOTS"] for _, _, s in tracks)}


def _xml_chunks(nodes, frame_of, pos, radius, quality, columns, tracks, vs_xyz, n_frames, image_shape_zyx, bdv_xml,
                display_ranges, source_id):
    """The XML text in pieces (one per frame of spots, one per track), so memory stays small."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<TrackMate version="{TRACKMATE_VERSION}">',
             f'  <Model spatialunits="{SPACE_UNIT}" timeunits="{TIME_UNIT}">', "    <FeatureDeclarations>",
             "      <SpotFeatures>"]
    lines += [f"        {_feature(*f)}" for f in _SPOT_FEATURES]
    lines += [f"        {_feature(*c[:5])}" for c in columns]
    lines += ["      </SpotFeatures>", "      <EdgeFeatures>"]
    lines += [f"        {_feature(*f)}" for f in _EDGE_FEATURES]
    lines += ["      </EdgeFeatures>", "      <TrackFeatures>"]
    lines += [f"        {_feature(*f)}" for f in _TRACK_FEATURES]
    lines += ["      </TrackFeatures>", "    </FeatureDeclarations>", f'    <AllSpots nspots="{len(nodes)}">']
    for t in np.unique(frame_of).tolist():
        lines.append(f'      <SpotsInFrame frame="{t}">')
        for i in np.flatnonzero(frame_of == t).tolist():
            attrs = [f'ID="{i}"', f'name="ID{i}"', f'POSITION_X="{_num(pos[i, 0])}"',
                     f'POSITION_Y="{_num(pos[i, 1])}"', f'POSITION_Z="{_num(pos[i, 2])}"',
                     f'POSITION_T="{_num(float(t))}"', f'FRAME="{t}"', f'RADIUS="{_num(radius[i])}"',
                     f'QUALITY="{_num(quality[i])}"', 'VISIBILITY="1"', f'SOURCE_ID="{source_id}"']
            attrs += [f'{feat}="{_num(vals[i])}"' for feat, *_, vals in columns]
            lines.append(f"        <Spot {' '.join(attrs)} />")
        lines.append("      </SpotsInFrame>")
        yield "\n".join(lines) + "\n"
        lines.clear()
    lines += ["    </AllSpots>", "    <AllTracks>"]
    for index, (tid, edges, stats) in enumerate(tracks):
        head = [f'name="Track_{tid}"', f'TRACK_ID="{tid}"', f'TRACK_INDEX="{index}"']
        head += [f'{k}="{_num(v)}"' for k, v in stats.items()]
        lines.append(f"      <Track {' '.join(head)}>")
        for a, b in edges:
            d = float(np.linalg.norm(pos[b] - pos[a]))
            dt = float(frame_of[b] - frame_of[a])
            lines.append(f'        <Edge SPOT_SOURCE_ID="{a}" SPOT_TARGET_ID="{b}" LINK_COST="-1.0" '
                         f'VELOCITY="{_num(d / dt)}" DISPLACEMENT="{_num(d)}" />')
        lines.append("      </Track>")
        yield "\n".join(lines) + "\n"
        lines.clear()
    lines += ["    </AllTracks>", "    <FilteredTracks>"]
    lines += [f'      <TrackID TRACK_ID="{tid}" />' for tid, _, _ in tracks]
    lines += ["    </FilteredTracks>", "  </Model>", "  <Settings>"]
    nz, ny, nx_ = (int(s) for s in image_shape_zyx)
    lines.append(f'    <ImageData filename={quoteattr(bdv_xml)} folder="" width="{nx_}" height="{ny}" nslices="{nz}" '
                 f'nframes="{int(n_frames)}" pixelwidth="{_num(vs_xyz[0])}" pixelheight="{_num(vs_xyz[1])}" '
                 f'voxeldepth="{_num(vs_xyz[2])}" timeinterval="1.0" />')
    lines += ['    <InitialSpotFilter feature="QUALITY" value="0.0" isabove="true" />', "    <SpotFilterCollection />",
              "    <TrackFilterCollection />", "    <AnalyzerCollection>"]
    for group, keys_ in _ANALYZERS.items():
        lines.append(f"      <{group}>")
        lines += [f"        <Analyzer key={quoteattr(k)} />" for k in keys_]
        lines.append(f"      </{group}>")
    lines += ["    </AnalyzerCollection>", "  </Settings>", "  <GUIState>",
              '    <View key="MaMuT Viewer" x="0" y="0" width="800" height="600" />', "    <SetupAssignments>",
              "      <ConverterSetups>"]
    for c, (lo, hi) in enumerate(display_ranges):
        lines += ["        <ConverterSetup>", f"          <id>{c}</id>", f"          <min>{_num(float(lo))}</min>",
                  f"          <max>{_num(float(max(hi, lo + 1)))}</max>", "          <color>-1</color>",
                  f"          <groupId>{c}</groupId>", "        </ConverterSetup>"]
    lines += ["      </ConverterSetups>", "      <MinMaxGroups>"]
    for c, (lo, hi) in enumerate(display_ranges):
        lines += ["        <MinMaxGroup>", f"          <id>{c}</id>", "          <fullRangeMin>0.0</fullRangeMin>",
                  f"          <fullRangeMax>{_num(float(_UINT16_MAX))}</fullRangeMax>",
                  "          <rangeMin>0.0</rangeMin>", f"          <rangeMax>{_num(float(_UINT16_MAX))}</rangeMax>",
                  f"          <currentMin>{_num(float(lo))}</currentMin>",
                  f"          <currentMax>{_num(float(max(hi, lo + 1)))}</currentMax>", "        </MinMaxGroup>"]
    lines += ["      </MinMaxGroups>", "    </SetupAssignments>", "    <Bookmarks />", "  </GUIState>",
              "</TrackMate>"]
    yield "\n".join(lines) + "\n"


def write_mamut(
    lineage: Lineage,
    raw_at: Callable[[int], np.ndarray] | None,
    n_frames: int,
    out_dir: str | Path,
    *,
    voxel_size: Sequence[float],
    source_channel: int = 0,
) -> dict:
    """Write ``out_dir/{mamut.xml, bdv.xml, bdv.h5}`` (see the module docstring), replacing ``out_dir`` atomically.

    ``raw_at(t)``: the raw frame t ((y, x) or (z, y, x), optional trailing channel axis); it is required, since
    MaMuT shows the lineage on the raw movie. ``voxel_size``: (y, x) or (z, y, x) in micrometres.
    ``source_channel``: the channel whose intensities the object features were measured on (SOURCE_ID).
    Returns counts for the log (spots, edges, tracks, divisions, lone spots) and the BigDataViewer summary.
    """
    out_dir = Path(out_dir)
    if raw_at is None:
        raise InputError(
            f"MaMuT export to {out_dir}: the raw movie is missing, and MaMuT needs it (as BigDataViewer XML/HDF5) "
            "to show the lineage. Set config key 'input' to the movie (the demo makes its own), or leave 'mamut' "
            "out of config key 'exports'")
    n_frames = int(n_frames)
    ndim = len(voxel_size)
    if ndim not in (2, 3) or not all(float(v) > 0 for v in voxel_size):
        raise InputError(f"MaMuT export to {out_dir}: voxel_size must be 2 or 3 positive numbers (config key "
                         f"'voxel_size'), got {list(voxel_size)}")
    nodes = lineage.nodes
    if len(nodes) and int(nodes["frame"].max()) >= n_frames:
        raise InputError(f"MaMuT export to {out_dir}: the lineage has objects in frame {int(nodes['frame'].max())} "
                         f"but the raw movie has {n_frames} frames")
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        bdv = write_bdv(raw_at, n_frames, tmp / BDV_H5, voxel_size)
        if not 0 <= source_channel < bdv["n_channels"]:
            raise InputError(f"MaMuT export to {out_dir}: channel {source_channel} (config key 'channel') but the "
                             f"raw movie has {bdv['n_channels']} channel(s)")
        counts = write_mamut_xml(lineage, tmp / MAMUT_XML, voxel_size=voxel_size, n_frames=n_frames,
                                 image_shape_zyx=bdv["shape_zyx"], bdv_xml=BDV_XML,
                                 display_ranges=bdv["display_ranges"], source_id=source_channel)
    return {**counts, "bdv": bdv}

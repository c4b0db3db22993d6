"""The tracking solution as a lineage: track segments (CTC tracks) with ids, parents and a graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from .errors import InputError

TRACK_COLUMNS = ["L", "B", "E", "P"]
_DERIVED = ("track_id", "parent_track", "lineage_id")


class LineageError(InputError, ValueError):
    """A lineage violates the CTC rules (also a ValueError, for callers that expect one)."""


@dataclass
class Lineage:
    """A lineage: ``graph`` of objects (frame, label), CTC ``tracks`` (L, B, E, P) and per-object ``nodes``."""

    graph: nx.DiGraph
    tracks: pd.DataFrame
    nodes: pd.DataFrame

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    @property
    def n_divisions(self) -> int:
        """Parents with two daughters (a gap continuation is a single child, not a division)."""
        children = self.tracks.loc[self.tracks["P"] > 0, "P"].value_counts()
        return int((children >= 2).sum())

    @property
    def n_lineages(self) -> int:
        return int((self.tracks["P"] == 0).sum())

    def summary(self) -> dict[str, int]:
        """Counts for logs and reports."""
        n_children = self.tracks.loc[self.tracks["P"] > 0, "P"].value_counts()
        return {
            "n_objects": int(len(self.nodes)),
            "n_tracks": self.n_tracks,
            "n_divisions": self.n_divisions,
            "n_gap_continuations": int((n_children == 1).sum()),
            "n_lineages": self.n_lineages,
            "n_links": int(self.graph.number_of_edges()),
        }

    @classmethod
    def from_tables(cls, nodes: pd.DataFrame, tracks: pd.DataFrame) -> "Lineage":
        """Rebuild a lineage from its saved ``nodes`` (with track_id) and ``tracks`` tables."""
        ordered = nodes.sort_values(["track_id", "frame"])
        edges = []
        first, last = {}, {}
        for tid, g in ordered.groupby("track_id", sort=True):
            keys = list(zip(g["frame"].astype(int), g["label"].astype(int)))
            first[tid], last[tid] = keys[0], keys[-1]
            edges += list(zip(keys[:-1], keys[1:]))
        for row in tracks.itertuples(index=False):
            if row.P > 0 and row.P in last and row.L in first:
                edges.append((last[row.P], first[row.L]))
        graph = nx.DiGraph()
        for rec in nodes.to_dict("records"):
            graph.add_node((int(rec["frame"]), int(rec["label"])), **rec)
        graph.add_edges_from(edges)
        lin = cls(graph=graph, tracks=tracks.reset_index(drop=True), nodes=nodes.reset_index(drop=True))
        validate(lin)
        return lin

    def to_dict(self) -> dict[str, Any]:
        """Summary plus the track table, JSON-serialisable."""
        return {
            **self.summary(),
            "tracks": [[int(v) for v in row] for row in self.tracks[TRACK_COLUMNS].itertuples(index=False)],
        }


def _int_column(df: pd.DataFrame, col: str, what: str) -> np.ndarray:
    values = df[col].to_numpy()
    if len(values) and not np.issubdtype(values.dtype, np.integer):
        as_float = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if np.isnan(as_float).any() or (as_float != np.round(as_float)).any():
            raise InputError(f"{what}: column {col!r} must hold integers")
        values = as_float
    return values.astype(np.int64)


def from_solution(nodes: pd.DataFrame, edges: pd.DataFrame) -> Lineage:
    """Build the lineage from active objects (``frame, label``, extra columns carried) and active links.

    ``edges`` has ``frame, label_src, label_dst`` and optionally ``frame_dst`` (default ``frame + 1``;
    larger values are gap-closing links, whose continuation becomes a new track with P = the old one).
    Two outgoing links make a division; more than two outgoing or more than one incoming is an error.
    """
    for col in ("frame", "label"):
        if col not in nodes.columns:
            raise InputError(f"lineage nodes: missing column {col!r} (have {list(nodes.columns)})")
    for col in ("frame", "label_src", "label_dst"):
        if col not in edges.columns:
            raise InputError(f"lineage edges: missing column {col!r} (have {list(edges.columns)})")

    nodes = nodes.drop(columns=[c for c in _DERIVED if c in nodes.columns]).copy()
    nodes["frame"] = _int_column(nodes, "frame", "lineage nodes")
    nodes["label"] = _int_column(nodes, "label", "lineage nodes")
    if (nodes["frame"] < 0).any() or (nodes["label"] <= 0).any():
        bad = nodes[(nodes["frame"] < 0) | (nodes["label"] <= 0)].iloc[0]
        raise InputError(
            f"lineage nodes: frame must be >= 0 and label > 0 (got frame {bad['frame']}, label {bad['label']})"
        )
    dup = nodes.duplicated(["frame", "label"])
    if dup.any():
        bad = nodes[dup].iloc[0]
        raise InputError(f"lineage nodes: object (frame {bad['frame']}, label {bad['label']}) is listed twice")
    nodes = nodes.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)

    src_f = _int_column(edges, "frame", "lineage edges")
    src_l = _int_column(edges, "label_src", "lineage edges")
    dst_l = _int_column(edges, "label_dst", "lineage edges")
    dst_f = _int_column(edges, "frame_dst", "lineage edges") if "frame_dst" in edges.columns else src_f + 1

    keys = set(zip(nodes["frame"].tolist(), nodes["label"].tolist()))
    succ: dict[tuple[int, int], list[tuple[int, int]]] = {}
    pred: dict[tuple[int, int], tuple[int, int]] = {}
    for fs, ls, fd, ld in zip(src_f.tolist(), src_l.tolist(), dst_f.tolist(), dst_l.tolist()):
        u, v = (fs, ls), (fd, ld)
        if fd <= fs:
            raise InputError(f"lineage edges: link {u} -> {v} (frame, label) does not go forward in time")
        for end in (u, v):
            if end not in keys:
                raise InputError(
                    f"lineage edges: link {u} -> {v} (frame, label) uses object {end}, which is not an active node"
                )
        if v in pred:
            if pred[v] == u:
                raise InputError(f"lineage edges: link {u} -> {v} (frame, label) is listed twice")
            raise InputError(
                f"lineage edges: object {v} (frame, label) has more than one incoming link ({pred[v]} and {u})"
            )
        pred[v] = u
        succ.setdefault(u, []).append(v)
        if len(succ[u]) > 2:
            raise InputError(
                f"lineage edges: object {u} (frame, label) has {len(succ[u])} outgoing links (at most 2: a division)"
            )

    def continues(u: tuple[int, int]) -> tuple[int, int] | None:
        # A track goes on only through a single, frame-to-frame link.
        out = succ.get(u, [])
        if len(out) == 1 and out[0][0] == u[0] + 1:
            return out[0]
        return None

    # Walk each track from its first object; starts are objects the previous object does not continue into.
    segments = []
    for key in zip(nodes["frame"].tolist(), nodes["label"].tolist()):
        p = pred.get(key)
        if p is not None and continues(p) == key:
            continue
        members = [key]
        while (nxt := continues(members[-1])) is not None:
            members.append(nxt)
        segments.append(members)
    # Deterministic numbering: by first frame, then first object's label (unique within a frame).
    segments.sort(key=lambda m: m[0])

    track_of: dict[tuple[int, int], int] = {}
    for tid, members in enumerate(segments, start=1):
        for key in members:
            track_of[key] = tid
    rows = []
    root: dict[int, int] = {}
    for tid, members in enumerate(segments, start=1):
        p = pred.get(members[0])
        parent = track_of[p] if p is not None else 0
        root[tid] = root[parent] if parent else tid  # parents are numbered first (they begin earlier)
        rows.append((tid, members[0][0], members[-1][0], parent))
    tracks = pd.DataFrame(rows, columns=TRACK_COLUMNS, dtype=np.int64) if rows else pd.DataFrame(
        {c: pd.Series(dtype=np.int64) for c in TRACK_COLUMNS}
    )

    node_keys = list(zip(nodes["frame"].tolist(), nodes["label"].tolist()))
    nodes["track_id"] = np.array([track_of[k] for k in node_keys], dtype=np.int64)
    parent_of = dict(zip(tracks["L"].tolist(), tracks["P"].tolist()))
    nodes["parent_track"] = np.array([parent_of[t] for t in nodes["track_id"].tolist()], dtype=np.int64)
    nodes["lineage_id"] = np.array([root[t] for t in nodes["track_id"].tolist()], dtype=np.int64)

    graph = nx.DiGraph()
    for rec in nodes.to_dict("records"):
        graph.add_node((int(rec["frame"]), int(rec["label"])), **rec)
    for u in sorted(succ):
        for v in sorted(succ[u]):
            kind = "division" if len(succ[u]) == 2 else ("gap" if v[0] > u[0] + 1 else "continuation")
            graph.add_edge(u, v, kind=kind)

    lineage = Lineage(graph=graph, tracks=tracks, nodes=nodes)
    validate(lineage)
    return lineage


def ctc_to_solution(tracks: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes and edges (with ``frame_dst``) of a CTC track table, whose label is L in every frame B..E.

    For reading CTC ground truth or results back through :func:`from_solution`.
    """
    nodes, edges = [], []
    end = dict(zip(tracks["L"].tolist(), tracks["E"].tolist()))
    for L, B, E, P in tracks[TRACK_COLUMNS].astype(np.int64).itertuples(index=False):
        nodes.extend((t, L) for t in range(B, E + 1))
        edges.extend((t, L, L, t + 1) for t in range(B, E))
        if P:
            if P not in end:
                raise InputError(f"CTC tracks: track {L} has parent {P}, which is not a track")
            edges.append((end[P], P, L, B))
    return (
        pd.DataFrame(nodes, columns=["frame", "label"], dtype=np.int64),
        pd.DataFrame(edges, columns=["frame", "label_src", "label_dst", "frame_dst"], dtype=np.int64),
    )


def validate(lineage: Lineage) -> None:
    """Check CTC consistency; raise LineageError (an InputError and ValueError) naming the first violation.

    Each track has exactly one object in every frame B..E, ids are unique and positive, a parent exists,
    ends before its children begin and has at most two children; nodes and graph agree with the tracks.
    """
    tracks, nodes, graph = lineage.tracks, lineage.nodes, lineage.graph
    missing = [c for c in TRACK_COLUMNS if c not in tracks.columns]
    if missing:
        raise LineageError(f"lineage tracks: missing columns {missing}")
    if tracks.empty:
        if len(nodes) or graph.number_of_nodes():
            raise LineageError("lineage: objects present but no tracks")
        return
    L = tracks["L"].to_numpy()
    if (L < 1).any():
        raise LineageError(f"lineage tracks: track id {int(L.min())} is not positive")
    if len(np.unique(L)) != len(L):
        dup = tracks.loc[tracks["L"].duplicated(), "L"].iloc[0]
        raise LineageError(f"lineage tracks: track id {int(dup)} is used twice")
    bad = tracks[tracks["B"] > tracks["E"]]
    if len(bad):
        r = bad.iloc[0]
        raise LineageError(f"lineage tracks: track {r['L']} begins at {r['B']} after it ends at {r['E']}")
    if (tracks["B"] < 0).any():
        raise LineageError(f"lineage tracks: track {int(tracks.loc[tracks['B'] < 0, 'L'].iloc[0])} begins before frame 0")

    by_id = tracks.set_index("L")
    for r in tracks.itertuples(index=False):
        if r.P == 0:
            continue
        if r.P not in by_id.index:
            raise LineageError(f"lineage tracks: track {r.L} has parent {r.P}, which is not a track")
        if by_id.at[r.P, "E"] >= r.B:
            raise LineageError(
                f"lineage tracks: track {r.L} begins at frame {r.B} but its parent {r.P} ends at frame {by_id.at[r.P, 'E']}"
            )
    n_children = tracks.loc[tracks["P"] > 0, "P"].value_counts()
    if (n_children > 2).any():
        p = n_children[n_children > 2].index[0]
        raise LineageError(f"lineage tracks: track {p} has {n_children[p]} children (at most 2)")

    # Every track is present exactly once in each frame B..E.
    for col in ("frame", "label", "track_id"):
        if col not in nodes.columns:
            raise LineageError(f"lineage nodes: missing column {col!r}")
    unknown = ~nodes["track_id"].isin(L)
    if unknown.any():
        r = nodes[unknown].iloc[0]
        raise LineageError(f"lineage nodes: object (frame {r['frame']}, label {r['label']}) has unknown track {r['track_id']}")
    if nodes.duplicated(["frame", "label"]).any():
        r = nodes[nodes.duplicated(["frame", "label"])].iloc[0]
        raise LineageError(f"lineage nodes: object (frame {r['frame']}, label {r['label']}) is listed twice")
    per_track = nodes.groupby("track_id")["frame"].agg(["min", "max", "count", "nunique"])
    per_track = per_track.reindex(L)
    expect = tracks.set_index("L")
    for tid, row in per_track.iterrows():
        b, e = int(expect.at[tid, "B"]), int(expect.at[tid, "E"])
        if pd.isna(row["count"]):
            raise LineageError(f"lineage: track {tid} (frames {b}..{e}) has no objects")
        if row["nunique"] != row["count"]:
            raise LineageError(f"lineage: track {tid} has two objects in one frame")
        if (row["min"], row["max"]) != (b, e) or row["count"] != e - b + 1:
            raise LineageError(
                f"lineage: track {tid} should have one object in every frame {b}..{e} "
                f"but has {int(row['count'])} objects in frames {int(row['min'])}..{int(row['max'])}"
            )

    # The graph agrees: consecutive objects of a track are linked, and a child's first object links from its parent's last.
    if graph.number_of_nodes() != len(nodes):
        raise LineageError(f"lineage: graph has {graph.number_of_nodes()} objects, node table {len(nodes)}")
    for u, v in graph.edges():
        tu, tv = graph.nodes[u].get("track_id"), graph.nodes[v].get("track_id")
        if tu == tv:
            if v[0] != u[0] + 1:
                raise LineageError(f"lineage: link {u} -> {v} within track {tu} skips frames")
        elif by_id.at[tv, "P"] != tu or by_id.at[tv, "B"] != v[0] or by_id.at[tu, "E"] != u[0]:
            raise LineageError(
                f"lineage: link {u} -> {v} joins tracks {tu} and {tv}, which are not parent's end and child's start"
            )
    for u in graph.nodes():
        if graph.in_degree(u) > 1:
            raise LineageError(f"lineage: object {u} has {graph.in_degree(u)} incoming links")
    n_links = sum(int(r.E - r.B) for r in tracks.itertuples(index=False)) + int((tracks["P"] > 0).sum())
    if graph.number_of_edges() != n_links:
        raise LineageError(f"lineage: graph has {graph.number_of_edges()} links, tracks imply {n_links}")

"""The tracking stages in one process, for another set of weights: windows, stitch, mergers, lineage, CTC export.

The workflow runs these as separate rules; this is the same chain for a comparison (the run's report shows the
learnt weights next to the defaults, scored the same way).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import lineage, mergers, stitch
from .export.ctc import write_ctc
from .export.selection import select_lineage

log = logging.getLogger("lineageflow")


def track_to_ctc(nodes: pd.DataFrame, tracking: dict, *, n_frames: int, window_size: int, overlap: int,
                 labels_at: Callable[[int], np.ndarray], voxel_size, seed: int, raw_at, out_dir: str | Path,
                 first_frame_labels: str | Path = "") -> dict:
    """Track ``nodes`` (object features with class probabilities) with ``tracking`` and write the CTC result to
    ``out_dir``; with ``first_frame_labels`` (config key export.first_frame_labels) only the lineages it marks in
    frame 0, like the run's own exports. Returns the stitched solution's summary."""
    st, summary = stitch.solve_windowed(nodes, tracking, n_frames, window_size, overlap)
    res = mergers.resolve_mergers(st.nodes, st.edges, labels_at, voxel_size, seed=seed, raw_at=raw_at)
    lin = lineage.from_solution(res.nodes, res.edges)

    def relabelled(t: int) -> np.ndarray:
        return res.new_labels[t] if t in res.new_labels else labels_at(t)

    if first_frame_labels:
        lin, _ = select_lineage(lin, relabelled, first_frame_labels)
    write_ctc(lin, relabelled, n_frames, out_dir)
    log.info("retracked with weights %s: %s", tracking["weights"], lin.summary())
    return summary

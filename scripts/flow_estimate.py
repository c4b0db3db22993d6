"""Rule flow_estimate: the flow fields of one chunk's frame pairs t → t+1 (the last frame of the movie has none)."""

import logging

import numpy as np
from _helpers import run

from lineageflow import flow
from lineageflow.io import open_movie
from lineageflow.progress import progress

log = logging.getLogger("lineageflow")


def main(smk):
    raw, p = smk.params.raw, smk.params
    cfg = flow.FlowConfig.from_config(p.flow)
    t0, t1 = p.frames
    movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"])
    flow.check_movie(movie.n_frames)
    grid = flow.Grid.of(movie.spatial_shape, p.voxel_size, cfg.downscale)

    def frame(t):
        image = movie.read(t)
        image = image[..., raw["channel"]] if movie.n_channels else image
        return np.nan_to_num(np.asarray(image, np.float32))  # a NaN pixel must not poison the FFTs

    pairs = [t for t in range(t0, t1) if t + 1 < movie.n_frames]
    fields, prev = [], None
    for t in progress(pairs, len(pairs), log):
        a = prev if prev is not None else frame(t)
        prev = frame(t + 1)  # two frames in memory at a time
        fields.append(flow.estimate_flow(a, prev, grid, min_tile=cfg.min_tile, tvl1=cfg.tvl1,
                                         background_sigma=cfg.background_sigma))
    fields = np.stack(fields) if fields else np.zeros((0, 3, *grid.shape), np.float32)
    flow.write_flow_chunk(smk.output[0], fields, grid, t0=t0, n_frames=movie.n_frames)
    for row in flow.magnitude_summary(fields, t0):
        log.info("frames %d → %d: mean displacement %.3g, max %.3g (physical units)", row["frame"], row["frame"] + 1,
                 row["mean_displacement"], row["max_displacement"])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

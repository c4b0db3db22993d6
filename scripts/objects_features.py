"""Rule objects_features: one object table (Parquet) for one chunk of label images."""

import logging
import warnings

import pandas as pd
from _helpers import run

from lineageflow import features, flow
from lineageflow.io import open_movie, read_chunk, recorded_path, write_table
from lineageflow.progress import progress

log = logging.getLogger("lineageflow")


def main(smk):
    raw = smk.params.raw
    movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"])
    labels, t0 = read_chunk(smk.input.labels, "labels")
    tables = []
    for i, lab in progress(enumerate(labels), len(labels), log):
        t = t0 + i
        image = movie.read(t)
        if movie.n_channels:
            image = image[..., raw["channel"]]
        if not lab.any():
            warnings.warn(f"{smk.input.labels} frame {t}: no objects; its table is empty")
        tables.append(features.object_features(lab, image, frame=t, voxel_size=smk.params.voxel_size,
                                               source=f"{smk.input.labels} frame {t}"))
    table = pd.concat(tables, ignore_index=True)
    if smk.input.flow:  # config key flow.enabled: each object's displacement to the next frame, for linking
        fields, grid, f0 = flow.read_flow_chunk(smk.input.flow[0], spatial_shape=movie.spatial_shape)
        table[flow.FLOW_COLUMNS] = flow.object_flow(table, fields, grid, f0)
        table["border_distance_in"], table["border_distance_out"] = flow.border_distances_along_flow(
            table, movie.spatial_shape, smk.params.voxel_size)
    meta = {"movie": recorded_path(raw["path"], smk.params.out), "dataset": raw["dataset"], "n_frames": movie.n_frames,
            "spatial_shape": list(movie.spatial_shape), "voxel_size": list(smk.params.voxel_size),
            "frames": [t0, t0 + len(labels)]}
    write_table(smk.output[0], table, meta)
    log.info("frames %d-%d: %d objects", t0, t0 + len(labels) - 1, len(table))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

"""Rule track_mergers: split objects holding several cells (count ≥ 2), relink them, update the label images."""

import logging

import numpy as np
from _helpers import run

from lineageflow import mergers
from lineageflow.io import LabelChunks, open_movie, read_chunk, read_table, write_label_chunk, write_table

log = logging.getLogger("lineageflow")


def main(smk):
    nodes, meta = read_table(smk.input.nodes)
    edges, _ = read_table(smk.input.edges)
    labels_at = LabelChunks(smk.input.labels)
    raw = smk.params.raw
    movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"])

    def raw_at(t):
        image = movie.read(t)
        return image[..., raw["channel"]] if movie.n_channels else image

    result = mergers.resolve_mergers(nodes, edges, labels_at, smk.params.voxel_size, seed=smk.params.seed,
                                     raw_at=raw_at)
    for line in result.log:
        log.info("%s", line)
    log.info("%d merger(s) split; %d frame(s) relabelled", result.n_split, len(result.new_labels))
    for src, dst in zip(smk.input.labels, smk.output.labels):
        labels, t0 = read_chunk(src, "labels")
        for t, new in result.new_labels.items():
            if t0 <= t < t0 + len(labels):
                labels[t - t0] = new
        write_label_chunk(dst, np.asarray(labels), t0=t0)
    write_table(smk.output.nodes, result.nodes, meta)
    write_table(smk.output.edges, result.edges, meta)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

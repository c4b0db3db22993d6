"""Rule objects_threshold: smooth, threshold and label one chunk of probability maps."""

import logging

import numpy as np
from _helpers import run

from lineageflow import threshold
from lineageflow.io import open_movie, read_chunk, write_label_chunk

log = logging.getLogger("lineageflow")


def probability_frames(smk, t0, t1):
    """(frame, probabilities, source) for the chunk: our chunk file, or frames of an ilastik export."""
    path = smk.input.probabilities
    if smk.params.external:
        movie = open_movie(path, dataset="exported_data", axes=smk.params.axes, what="probabilities")
        for t in range(t0, t1):
            yield t, movie.read(t), f"{path} frame {t}"
    else:
        probs, c0 = read_chunk(path, "exported_data")
        for t in range(t0, t1):
            yield t, probs[t - c0], f"{path} frame {t}"


def main(smk):
    t0, t1 = smk.params.frames
    o = smk.params.objects
    sigma = threshold.sigma_pixels(o["sigma"][-len(smk.params.voxel_size):], smk.params.voxel_size)
    labels = []
    for t, probs, source in probability_frames(smk, t0, t1):
        lab = threshold.threshold_frame(probs, channel=o["channel"], method=o["method"], threshold=o["threshold"],
                                        low=o["low"], high=o["high"], sigma=sigma, min_size=o["min_size"],
                                        max_size=o["max_size"] or None,
                                        max_foreground_fraction=o["max_foreground_fraction"], source=source)
        log.info("frame %d: %d objects", t, int(lab.max()))
        labels.append(lab)
    write_label_chunk(smk.output[0], np.stack(labels), t0=t0)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

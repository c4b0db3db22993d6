"""Rule pixels_predict: per-pixel class probabilities for one chunk of frames (ilastik-style HDF5)."""

import logging

import numpy as np
from _helpers import run

from lineageflow import normalise, pixels
from lineageflow.errors import InputError
from lineageflow.io import open_movie, write_probabilities

log = logging.getLogger("lineageflow")


def main(smk):
    raw = smk.params.raw
    t0, t1 = smk.params.frames
    movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"])
    clf = pixels.load(smk.input.classifier)
    clf.n_jobs = smk.threads
    norm, levels = normalise.read_levels(smk.input.normalisation)
    if norm != clf.normalisation:
        raise InputError(f"{smk.input.classifier} normalises {clf.normalisation} but {smk.input.normalisation} holds "
                         f"{norm}: retrain the classifier with the current config key 'pixels.normalise'")
    probs = np.stack([pixels.predict(clf, movie.read(t), levels=levels) for t in range(t0, t1)])
    write_probabilities(smk.output[0], probs, t0=t0)
    log.info("frames %d-%d: probabilities %s", t0, t1 - 1, probs.shape)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

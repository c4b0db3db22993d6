"""Rule qc_frames: one QC row per frame of a chunk (raw health, probability margin, object count), and the
chunk's bad-frame check (lineageflow.frame_check)."""

import logging

import numpy as np
from _helpers import run

from lineageflow import frame_check, qc
from lineageflow.errors import InputError
from lineageflow.io import open_movie, read_chunk, recorded_path, write_table

log = logging.getLogger("lineageflow")


def probability_reader(smk, spatial_ndim):
    """Frame t → the foreground channel (objects.channel) of our chunk file or of an ilastik export; None when the
    objects came from label images."""
    path, channel = smk.input.probabilities, smk.params.channel
    if not path:
        return lambda t: None
    if smk.params.external:
        movie = open_movie(path, dataset="exported_data", axes=smk.params.axes, what="probabilities")
        read = movie.read
    else:
        probs, c0 = read_chunk(path, "exported_data")
        read = lambda t: probs[t - c0]  # noqa: E731

    def at(t):
        p = read(t)
        if p.ndim == spatial_ndim:  # a single-channel export has no channel axis
            p = p[..., None]
        if not channel < p.shape[-1]:
            raise InputError(f"{path}: objects.channel = {channel} but the probabilities have {p.shape[-1]} channel(s)")
        return p[..., channel]

    return at


def main(smk):
    t0, t1 = smk.params.frames
    raw = smk.params.raw
    movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"])
    labels, l0 = read_chunk(smk.input.labels, "labels")
    probability_at = probability_reader(smk, movie.ndim)
    rows, stats = [], []
    for t in range(t0, t1):
        image = movie.read(t)
        if movie.n_channels:
            image = image[..., raw["channel"]]
        rows.append(qc.frame_qc(image, probability_at(t), labels[t - l0], frame=t, band=tuple(smk.params.band)))
        stats.append(frame_check.frame_stats(image, frame=t, file=frame_check.frame_source(movie, t, smk.params.out)))
        log.info("frame %d: %d objects, margin %.3f, uncertain %.3f", t, rows[-1]["n_objects"],
                 rows[-1]["mean_probability_margin"], rows[-1]["uncertain_fraction"])
    meta = {"movie": recorded_path(raw["path"], smk.params.out), "frames": [t0, t1]}
    # the bad-frame check of every frame, whatever made the objects (the same as pixels_predict's, when it ran)
    settings = smk.params.input_check
    check = frame_check.check_frames(stats, frame_check.read_reference(smk.input.normalisation),
                                     abnormal_z=settings["abnormal_z"], saturated_fraction=settings["saturated_fraction"])
    write_table(smk.output.check, check, meta)
    write_table(smk.output[0], qc.frames_table(rows), meta)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

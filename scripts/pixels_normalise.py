"""Rule pixels_normalise: the input movie's intensity normalisation levels (robust percentiles), as JSON, with the
movie's reference for the bad-frame check (lineageflow.frame_check); bad sampled frames are left out of both."""

import logging

from _helpers import run

from lineageflow import frame_check, normalise
from lineageflow.io import open_movie, recorded_path
from lineageflow.progress import Progress

log = logging.getLogger("lineageflow")


def main(smk):
    raw = smk.params.raw
    check = smk.params.input_check
    norm = normalise.Normalisation.from_config(smk.params.normalise)
    movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"])
    counter = Progress(len(normalise.sample_frames(movie.n_frames, norm)), log, "sampled frame")

    def read(t):  # reading is most of the pass: a sampled frame read is one step
        image = movie.read(t)
        counter.step()
        return image

    levels, reference, sampled, drift = frame_check.sample_movie(
        read, movie.n_frames, norm, channels=bool(movie.n_channels), channel=raw["channel"],
        source=lambda t: frame_check.frame_source(movie, t, smk.params.out), dtype=str(movie.dtype), abnormal_z=check["abnormal_z"],
        saturated_fraction=check["saturated_fraction"])
    normalise.write_levels(smk.output[0], norm, levels, source=recorded_path(raw["path"], smk.params.out),
                           frame_check=reference, drift=drift)
    log.info("normalisation %s of %s: levels %s", norm, raw["path"], None if levels is None else levels.tolist())
    if drift is not None:
        log.info("brightness drift beyond %s of the level span: frames %s scale it by %s", norm.drift,
                 list(drift.frames), [round(s[0], 3) for s in drift.scale])
    for line in frame_check.warning_lines(sampled):  # every frame is checked again where it is predicted
        log.warning("%s", line)
    if reference["left_out"]:
        log.warning("bad frames %s are left out of the normalisation levels and the frame-check reference",
                    ", ".join(map(str, reference["left_out"])))
    if len(reference["frames"]) < frame_check.MIN_REFERENCE_FRAMES:
        log.info("frame check: %d good sampled frames (%d needed): no frame will be called abnormal",
                 len(reference["frames"]), frame_check.MIN_REFERENCE_FRAMES)
    if sampled.shape[0] and len(frame_check.bad(sampled)) > sampled.shape[0] / 2:
        log.warning("%d of %d sampled frames are bad: with input_check.bad_frames = skip most of the movie will "
                    "have no objects", len(frame_check.bad(sampled)), sampled.shape[0])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

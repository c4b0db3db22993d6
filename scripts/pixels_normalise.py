"""Rule pixels_normalise: the input movie's intensity normalisation levels (robust percentiles), as JSON."""

import logging

from _helpers import run

from lineageflow import normalise
from lineageflow.io import open_movie, recorded_path

log = logging.getLogger("lineageflow")


def main(smk):
    raw = smk.params.raw
    norm = normalise.Normalisation.from_config(smk.params.normalise)
    movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"])
    levels = normalise.movie_levels(movie.read, movie.n_frames, norm, channels=bool(movie.n_channels))
    normalise.write_levels(smk.output[0], norm, levels, source=recorded_path(raw["path"], smk.params.out))
    log.info("normalisation %s of %s: levels %s", norm, raw["path"], None if levels is None else levels.tolist())


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

"""Rule pixels_predict: per-pixel class probabilities for one chunk of frames (ilastik-style HDF5), and the chunk's
bad-frame check (lineageflow.frame_check), which objects_threshold reads to skip bad frames."""

import logging

import numpy as np
from _helpers import run

from lineageflow import compiled_forest, frame_check, normalise, pixels
from lineageflow.errors import InputError
from lineageflow.io import open_movie, recorded_path, write_probabilities, write_table
from lineageflow.progress import progress

log = logging.getLogger("lineageflow")


def main(smk):
    raw = smk.params.raw
    check = smk.params.input_check
    t0, t1 = smk.params.frames
    movie = open_movie(raw["path"], dataset=raw["dataset"], axes=raw["axes"])
    compiled = getattr(smk.input, "compiled", None) or []  # config key pixels.forest
    compiled = [compiled] if isinstance(compiled, str) else list(compiled)
    clf = pixels.load(smk.input.classifier, with_forest=not compiled)  # the compiled forest replaces scikit-learn's
    clf.n_jobs = smk.threads
    for path in compiled:
        clf.compiled = compiled_forest.CompiledForest(path, len(clf.classes), threads=smk.threads)
    log.info("pixel forest: %s", f"compiled ({clf.compiled.path})" if clf.compiled else "scikit-learn")
    norm, levels = normalise.read_levels(smk.input.normalisation)
    drift = normalise.read_drift(smk.input.normalisation)
    if norm != clf.normalisation:
        raise InputError(f"{smk.input.classifier} normalises {clf.normalisation} but {smk.input.normalisation} holds "
                         f"{norm}: retrain the classifier with the current config key 'pixels.normalise'")
    fallback = levels[0] if levels is not None else 0.0  # fills a frame without any finite pixel
    probs, rows = [], []
    for t in progress(range(t0, t1), t1 - t0, log):
        image, source = movie.read(t), frame_check.frame_source(movie, t, smk.params.out)
        rows.append(frame_check.frame_stats(image[..., raw["channel"]] if movie.n_channels else image, frame=t,
                                            file=source))
        image, n_bad, values = frame_check.fill_non_finite(image, channels=clf.channels, fallback=fallback)
        if n_bad:
            log.warning("frame %d (%s): %d NaN or infinite pixels (%.1f %%) replaced by %s before the filter bank",
                        t, source, n_bad, 100 * n_bad / image.size,
                        ", ".join(f"{v:g}" for v in values) + (" (the frame's median)" if rows[-1]["finite_fraction"]
                                                              else " (the movie's low level: no finite pixel)"))
        probs.append(pixels.predict(clf, image, levels=normalise.levels_at(levels, drift, t)))
    probs = np.stack(probs)
    table = frame_check.check_frames(rows, frame_check.read_reference(smk.input.normalisation),
                                     abnormal_z=check["abnormal_z"], saturated_fraction=check["saturated_fraction"])
    write_table(smk.output.check, table, {"movie": recorded_path(raw["path"], smk.params.out), "frames": [t0, t1]})
    write_probabilities(smk.output[0], probs, t0=t0)
    for line in frame_check.warning_lines(table):
        log.warning("%s", line)
    log.info("frames %d-%d: probabilities %s, %d bad frame(s)", t0, t1 - 1, probs.shape, len(frame_check.bad(table)))


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

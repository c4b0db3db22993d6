"""Rule objects_threshold: smooth, threshold and label one chunk of probability maps; bad frames (config
input_check.bad_frames = skip) get an empty label image."""

import logging

import numpy as np
from _helpers import run

from lineageflow import frame_check, pixels, segment, threshold
from lineageflow.io import open_movie, read_chunk, write_label_chunk
from lineageflow.progress import progress

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
    # the split decision only: the forest is not read (nor scikit-learn imported)
    training = pixels.read_training(smk.input.classifier) if getattr(smk.input, "classifier", None) else None
    objects = segment.resolved_objects(smk.params.objects, training)
    if objects["split"] != smk.params.objects["split"]:
        log.info("objects.split %s: %s", smk.params.objects["split"], objects["split"] or "no split")
    skip, check = set(), getattr(smk.input, "check", None)
    if check:  # bad frames found by pixels_predict (config input_check): with bad_frames 'skip', no objects there
        table = frame_check.read_check(check)
        skip = frame_check.frames_to_skip(table, smk.params.bad_frames, smk.params.skip_abnormal)
        for line in frame_check.warning_lines(table, smk.params.bad_frames, smk.params.skip_abnormal):
            log.warning("%s", line)
    labels = []
    for t, probs, source in progress(probability_frames(smk, t0, t1), t1 - t0, log):
        if t in skip:
            labels.append(np.zeros(probs.shape[:len(smk.params.voxel_size)], np.uint32))
            log.info("frame %d: bad frame skipped, no objects", t)
            continue
        lab = threshold.threshold_from_config(probs, objects, smk.params.voxel_size, source=source)
        log.info("frame %d: %d objects", t, int(lab.max()))
        labels.append(lab)
    write_label_chunk(smk.output[0], np.stack(labels), t0=t0)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

"""Rule objects_relabel: take the user's label images for one chunk (thresholding skipped)."""

import logging

import numpy as np
from _helpers import run

from lineageflow import threshold
from lineageflow.io import open_label_images, write_label_chunk

log = logging.getLogger("lineageflow")


def main(smk):
    t0, t1 = smk.params.frames
    o = smk.params.objects
    shape = tuple(smk.params.shape)
    given = open_label_images(smk.input.labels, what="label images (objects.labels)", ndim=len(shape))
    labels = []
    for t in range(t0, t1):
        lab = given.read(t, shape)
        lab = threshold.relabel_segmentation(lab, min_size=o["min_size"], max_size=o["max_size"] or None,
                                             source=given.file_of(t))
        log.info("frame %d: %d objects", t, int(lab.max()))
        labels.append(lab)
    write_label_chunk(smk.output[0], np.stack(labels), t0=t0)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

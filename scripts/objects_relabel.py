"""Rule objects_relabel: take the user's label images for one chunk (thresholding skipped)."""

import logging

import numpy as np
from _helpers import run

from lineageflow import threshold
from lineageflow.io import list_frames, read_label_folder_frame, write_label_chunk

log = logging.getLogger("lineageflow")


def main(smk):
    t0, t1 = smk.params.frames
    o = smk.params.objects
    files = list_frames(smk.input.labels, what="label images (objects.labels)")
    labels = []
    for t in range(t0, t1):
        lab = read_label_folder_frame(files, t, tuple(smk.params.shape))
        lab = threshold.relabel_segmentation(lab, min_size=o["min_size"], max_size=o["max_size"] or None,
                                             source=str(files[t]))
        log.info("frame %d: %d objects", t, int(lab.max()))
        labels.append(lab)
    write_label_chunk(smk.output[0], np.stack(labels), t0=t0)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

"""Rule classify_train: train the object-count and division classifiers from GT-derived or CSV annotations."""

import logging

from _helpers import run

from lineageflow import annotations, classifiers, normalise, pixels, segment
from lineageflow.augment import Augmentation
from lineageflow.io import LabelChunks, open_movie, read_tables

log = logging.getLogger("lineageflow")


def augmented_examples(p, clf):
    """Count examples from augmented copies of the pixel classifier's ground-truth training frames: the copies the
    forest was trained on (pixels.augment), else those of classify.augment; none without either."""
    training = clf.training or {}
    if not training.get("gt_frames"):
        return []
    if training.get("augmentation"):
        augmentation = Augmentation(**training["augmentation"])
    else:
        augmentation = Augmentation.from_config(p.classify["augment"])
        if augmentation is None:
            return []
    gt_frames = training["gt_frames"]
    movie = open_movie(p.train_raw, dataset=p.dataset, axes=p.axes, what="training movie")
    extra = list(segment.augmented_count_examples(
        movie, clf, segment.resolved_objects(p.objects, clf), p.voxel_size, gt_dir=gt_frames["gt"],
        frames=gt_frames["frames"], augmentation=augmentation, channel=p.channel))
    log.info("count classifier: %d objects from %d augmented copies of frames %s", sum(len(e[0]) for e in extra),
             len(extra), gt_frames["frames"])
    return extra


def main(smk):
    p = smk.params
    c = p.classify
    # the objects of the input, or of the training sequence (config key train): made by the same per-chunk rules
    table, meta = read_tables(smk.input.tables)
    labels_at = LabelChunks(smk.input.labels)
    n_frames = p.n_frames
    if p.source == "train":
        log.info("training sequence %s: %d objects in %d frames", p.train_raw, len(table), n_frames)
    norm, movie_levels = normalise.read_levels(smk.input.normalisation)
    levels = normalise.intensity_levels(norm, movie_levels, p.channel)
    pixel_clf = pixels.load(smk.input.pixel_classifier) if smk.input.pixel_classifier else None
    if p.source == "csv":
        def label_at(t, z, y, x):
            return int(labels_at(t)[(y, x) if len(p.shape) == 2 else (z, y, x)])

        ann = annotations.read_annotation_csv(smk.input.annotations, [table], labels=label_at, n_frames=p.n_frames)
    elif p.source in ("gt", "train"):
        ann = annotations.annotations_from_gt_dir(p.gt, range(n_frames), labels_at, table)
    else:
        ann = None
    extra = []
    if ann is not None and pixel_clf is not None:
        extra = augmented_examples(p, pixel_clf)
    count_clf = division_clf = None
    if ann is not None:
        log.info("annotations (%s): %s", p.source, ann.groupby(["kind", "value"]).size().to_dict())
        # GT-derived annotations may all be one class (GT masks as label images): then "always that class"
        count_clf, division_clf = classifiers.train_from_annotations(
            table, ann, max_count=p.max_count, max_distance=p.max_distance, n_trees=c["n_trees"], seed=c["seed"],
            n_jobs=smk.threads, source=p.source, allow_single_class=p.source in ("gt", "train"),
            info={k: meta.get(k) for k in ("spatial_shape", "n_frames", "voxel_size")}, levels=levels, extra_counts=extra)
    else:
        log.warning("no annotations: fall-backs P(count=1) = %s, P(division) = 0", c["fallback_confidence"])
    classifiers.save_optional(count_clf, smk.output.counts, kind="count")
    classifiers.save_optional(division_clf, smk.output.division, kind="division")


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

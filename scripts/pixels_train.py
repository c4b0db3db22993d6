"""Rule pixels_train: train the Random Forest pixel classifier from GT scribbles, sparse labels or an ilastik project."""

import logging
from typing import NamedTuple

from _helpers import run
from scipy import ndimage

from lineageflow import groundtruth, normalise, pixels, scribbles, segment
from lineageflow.augment import Augmentation
from lineageflow.filters import FeatureSpec
from lineageflow.io import open_label_images, open_movie
from lineageflow.errors import InputError

log = logging.getLogger("lineageflow")


class TrainingSet(NamedTuple):
    images: list
    labels: list
    spec: FeatureSpec
    what: str  # where the labels come from, for the log
    levels: object  # the movie's normalisation levels, or one per image
    gt_frames: dict | None = None  # {"gt": folder, "frames": [...]} when scribbles were sampled from ground truth


def training_frames(p, cfg, levels_file=""):
    """The TrainingSet of the configured source.

    Levels are those of the movie each image comes from: the training movie's, or per image for an ilastik
    project (its lanes are separate movies)."""
    norm = normalise.Normalisation.from_config(cfg["normalise"])
    spec = FeatureSpec.from_names(cfg["features"]) if cfg["features"] else FeatureSpec.default()
    if p.train_from == "ilp":
        from lineageflow import ilastik_project

        project = ilastik_project.read_pixel_classification_project(p.train_gt)
        images, labels = ilastik_project.training_data(project)
        spec = spec if cfg["features"] else project.feature_spec
        channels = images[0].ndim == labels[0].ndim + 1
        levels = [normalise.movie_levels(lambda _, im=im: im, 1, norm, channels=channels) for im in images]
        return TrainingSet(images, labels, spec, f"ilastik project {p.train_gt}", levels)
    movie = open_movie(p.train_raw, dataset=p.dataset, axes=p.axes, what="training movie")
    if levels_file:  # the training movie is the input: its levels were computed once, by pixels_normalise
        levels, drift = normalise.read_levels(levels_file)[1], normalise.read_drift(levels_file)
    else:
        levels, drift = normalise.movie_normalisation(movie.read, movie.n_frames, norm, channels=bool(movie.n_channels))
    if p.train_from == "labels":
        given = open_label_images(p.train_gt, what="sparse label images (pixels.labels)", ndim=movie.ndim,
                                  n_frames=movie.n_frames, sparse=True)
        frames = given.labelled_frames()
        if not frames:
            raise InputError(f"{p.train_gt}: no labelled pixels in any frame (config key 'pixels.labels')")
        images = [movie.read(t) for t in frames]
        labels = [given.read(t, movie.spatial_shape) for t in frames]
        return TrainingSet(images, labels, spec, f"sparse labels {p.train_gt}",
                           [normalise.levels_at(levels, drift, t) for t in frames] if drift else levels)
    masks = groundtruth.mask_frames(p.train_gt)
    frames = groundtruth.evenly_spaced([t for t in masks if t < movie.n_frames], cfg["train_frames"])
    images, labels = [], []
    widest = 0
    for t in frames:
        gt = groundtruth.read_mask(masks[t], movie.spatial_shape)
        widest = max([widest] + [max(s.stop - s.start for s in sl[-2:]) for sl in ndimage.find_objects(gt)
                                 if sl is not None])
        images.append(movie.read(t))
        labels.append(scribbles.sample_scribbles(gt, n_strokes_per_object=cfg["strokes_per_object"],
                                                 erosion=cfg["scribble_erosion"],
                                                 min_distance_from_objects=cfg["scribble_background_distance"],
                                                 seed=cfg["seed"] + t))
    radius = normalise.background_radius(norm, movie.spatial_shape)
    if 0 < 2 * radius <= widest:  # the flattening's opening keeps objects as wide as its disk: background
        log.warning("config key 'pixels.normalise.background' = %s (radius %g): the widest ground-truth object is "
                    "%d pixels across (%s), as wide as the flattening's disk, so it would be taken for background; "
                    "raise the radius to at least %d", norm.background, radius, widest, p.train_gt, widest)
    if drift is not None:  # each frame normalised as pixels_predict normalises it
        levels = [normalise.levels_at(levels, drift, t) for t in frames]
    return TrainingSet(images, labels, spec, f"scribbles from {p.train_gt} frames {frames}", levels,
                       {"gt": p.train_gt, "frames": frames})


def decide_split(p, clf, images, gt_frames, levels):
    """objects.split 'auto': split touching objects if that helps on the training frames (recorded in clf)."""
    tra = groundtruth.track_frames(gt_frames["gt"])
    masks = [groundtruth.read_mask(tra[t], images[0].shape[:clf.ndim]) for t in gt_frames["frames"]]
    decision = segment.choose_split(clf, images, masks, p.objects, p.voxel_size, levels=levels)
    clf.training["split"] = decision
    log.info("objects.split auto: %s (net gain %.4f per GT object on frames %s: %s)",
             f"split at {decision['ratio']}" if decision["ratio"] else "no split", decision["gain"],
             gt_frames["frames"], decision["evidence"])


def main(smk):
    p = smk.params
    cfg = p.pixels
    images, labels, spec, what, levels, gt_frames = training_frames(p, cfg, getattr(smk.input, "normalisation", ""))
    norm = normalise.Normalisation.from_config(cfg["normalise"])
    augmentation = Augmentation.from_config(cfg["augment"])
    log.info("training on %s; normalisation %s; augmentation %s",
             what, norm,
             augmentation.to_dict() if augmentation else "off")
    # channel-last images only when the movie has a channel axis (one more axis than the label images)
    channels = images[0].ndim == labels[0].ndim + 1
    clf = pixels.train(images, labels, spec, voxel_size=p.voxel_size, n_trees=cfg["n_trees"], seed=cfg["seed"],
                       n_jobs=smk.threads, channels=channels, normalisation=norm, levels=levels,
                       augmentation=augmentation, record={"gt_frames": gt_frames})
    if gt_frames and not p.objects.get("labels"):  # used when objects.split is 'auto'
        decide_split(p, clf, images, gt_frames, levels)
    pixels.save(clf, smk.output[0])
    log.info("classifier written to %s", smk.output[0])


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

"""Rule track_learn: learn the five tracking weights (structured SVM) from ground truth or tracklets."""

import logging

import pandas as pd
from _helpers import run

from lineageflow import annotations, classifiers, groundtruth, learn, learn_data, normalise, pixels, segment, windows
from lineageflow.io import LabelChunks, open_movie, read_tables, recorded_path

log = logging.getLogger("lineageflow")


def train_movie_objects(smk, p, frames: list[int]):
    """The training sequence's objects in ``frames`` (and the frame after, for division features), made as the
    input's are: (table, next frame's table, label images, intensity levels, n_frames)."""
    movie = open_movie(p.train_raw, what="training movie (train)")
    clf = pixels.load(smk.input.pixel_classifier)
    norm, _ = normalise.read_levels(smk.input.normalisation)
    levels, drift = normalise.movie_normalisation(movie.read, movie.n_frames, norm, channels=bool(movie.n_channels))
    wanted = sorted(set(frames) | {t + 1 for t in frames if t + 1 < movie.n_frames})
    made = {t: (lab, tab) for t, lab, tab in segment.segment_frames(
        movie, clf, segment.resolved_objects(p.objects, clf), p.voxel_size, channel=p.channel, levels=levels,
        drift=drift, frames=wanted)}
    table = pd.concat([made[t][1] for t in frames], ignore_index=True)
    nxt = made[max(frames) + 1][1] if max(frames) + 1 in made else None
    return (table, nxt, (lambda t: made[t][0]), normalise.intensity_levels(norm, levels, p.channel),
            movie.n_frames)


def main(smk):
    p = smk.params
    ndim = len(p.voxel_size)
    learn_cfg = p.tracking["learn"]
    crops = learn_data.parse_crops(learn_cfg["crop"], p.n_train_frames, ndim)
    tracking = {**p.tracking, "weights": list(learn.DEFAULT_WEIGHTS)}
    crop_frames = sorted({t for c in crops for t in c.frames()})
    fit = dict(max_count=tracking["max_count"], fallback_confidence=p.classify["fallback_confidence"])
    if p.source == "train":
        gt_frames = sorted(groundtruth.track_frames(p.annotation))
        frames = sorted(set(crop_frames) & set(gt_frames)) if crops else gt_frames
        table, nxt, labels_at, levels, n_frames = train_movie_objects(smk, p, frames)
        probs = classifiers.classify_table(
            table, count_clf=classifiers.load_optional(smk.input.counts, kind="count"),
            division_clf=classifiers.load_optional(smk.input.division, kind="division"), n_frames=n_frames,
            next_table=nxt, frames=(min(frames), max(frames) + 1), levels=levels, **fit)
    else:
        table, meta = read_tables(smk.input.tables)
        probs, _ = read_tables(smk.input.probabilities, expected=meta)
        labels_at, n_frames = LabelChunks(smk.input.labels), p.n_frames
        levels = normalise.intensity_levels(*normalise.read_levels(smk.input.normalisation), p.channel)
        frames = crop_frames or list(range(n_frames))
        if p.source == "gt":
            frames = sorted(set(frames) & set(groundtruth.track_frames(p.annotation)))
        table = table[table["frame"].isin(frames)].reset_index(drop=True)
    if p.source in ("gt", "train") and learn_cfg["cross_fit"] > 1:
        # the classifiers learnt these frames' ground truth: classify each block with classifiers that did not
        ann = annotations.annotations_from_gt_dir(p.annotation, frames, labels_at, table)
        probs = learn_data.cross_fitted(table, ann, folds=learn_cfg["cross_fit"], n_frames=n_frames,
                                        max_distance=tracking["max_distance"], n_trees=p.classify["n_trees"],
                                        seed=p.classify["seed"], n_jobs=smk.threads, levels=levels, **fit)
        log.info("object probabilities cross-fitted in %d blocks of frames", learn_cfg["cross_fit"])
    nodes = windows.tracking_nodes(table, probs)
    if p.source == "tracklets":
        cells = learn_data.tracklet_cells(p.annotation, labels_at, p.voxel_size, n_frames)
    else:
        cells = learn_data.ctc_cells(p.annotation, labels_at, frames)
    log.info("learning the tracking weights from %s: %d cells, %d links", cells.source, len(cells.cells),
             len(cells.links))
    exs, data = learn_data.examples(nodes, cells, crops, tracking, p.window_size, ndim=ndim)
    tied = learn_data.division_fallback(exs, cells.source)
    log.info("%d examples; annotation made representable: %s", len(exs), data["representable"])
    settings = learn.LearnSettings(C=learn_cfg["C"], max_iterations=learn_cfg["max_iterations"],
                                   tolerance=learn_cfg["tolerance"], loss=tuple(learn_cfg["loss"]))
    result = learn.learn_weights(exs, settings, initial=learn.DEFAULT_WEIGHTS, solver=tracking["solver"],
                                 gap=tracking["gap"], threads=smk.threads, tied=tied)
    log.info("learnt weights %s (%s after %d iterations, %.1f s)", result["weights"], result["stopped"],
             len(result["history"]), result["seconds"])
    errors = {name: learn.training_errors(exs, w, tracking["solver"], tracking["gap"])
              for name, w in (("default", learn.DEFAULT_WEIGHTS), ("learned", result["weights"]))}
    log.info("errors on the training data: %s", errors)
    data["source"] = data["source"].replace(str(p.annotation), recorded_path(p.annotation, p.out))
    learn.write_weights(smk.output[0], result | {"training_errors": errors},
                        data | {"cross_fit": learn_cfg["cross_fit"] if p.source in ("gt", "train") else 0})


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

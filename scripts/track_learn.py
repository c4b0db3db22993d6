"""Rule track_learn: learn the five tracking weights (structured SVM) from ground truth or tracklets."""

import logging

import pandas as pd
from _helpers import run

from lineageflow import classifiers, groundtruth, learn, learn_data, normalise, pixels, segment, windows
from lineageflow.io import LabelChunks, open_movie, read_tables

log = logging.getLogger("lineageflow")


def train_movie_objects(smk, p, frames: list[int]):
    """The training sequence's objects in ``frames``, made and classified as the input's are."""
    movie = open_movie(p.train_raw, what="training movie (train)")
    clf = pixels.load(smk.input.pixel_classifier)
    norm, _ = normalise.read_levels(smk.input.normalisation)
    levels = normalise.movie_levels(movie.read, movie.n_frames, norm, channels=bool(movie.n_channels))
    wanted = sorted(set(frames) | {t + 1 for t in frames if t + 1 < movie.n_frames})
    made = {t: (lab, tab) for t, lab, tab in segment.segment_frames(
        movie, clf, segment.resolved_objects(p.objects, clf), p.voxel_size, channel=p.channel, levels=levels,
        frames=wanted)}
    table = pd.concat([made[t][1] for t in frames], ignore_index=True)
    last = max(frames)
    probs = classifiers.classify_table(
        table, count_clf=classifiers.load_optional(smk.input.counts, kind="count"),
        division_clf=classifiers.load_optional(smk.input.division, kind="division"), n_frames=movie.n_frames,
        next_table=made[last + 1][1] if last + 1 in made else None, frames=(min(frames), last + 1),
        max_count=p.tracking["max_count"], fallback_confidence=p.classify["fallback_confidence"],
        levels=normalise.intensity_levels(norm, levels, p.channel))
    return windows.tracking_nodes(table, probs), (lambda t: made[t][0])


def main(smk):
    p = smk.params
    ndim = len(p.voxel_size)
    learn_cfg = p.tracking["learn"]
    crops = learn_data.parse_crops(learn_cfg["crop"], p.n_train_frames, ndim)
    tracking = {**p.tracking, "weights": list(learn.DEFAULT_WEIGHTS)}
    if p.source == "train":
        gt_frames = sorted(groundtruth.track_frames(p.annotation))
        frames = sorted({t for c in crops for t in c.frames()} & set(gt_frames)) if crops else gt_frames
        nodes, labels_at = train_movie_objects(smk, p, frames)
    else:
        table, meta = read_tables(smk.input.tables)
        probs, _ = read_tables(smk.input.probabilities, expected=meta)
        nodes, labels_at = windows.tracking_nodes(table, probs), LabelChunks(smk.input.labels)
        frames = sorted({t for c in crops for t in c.frames()}) if crops else list(range(p.n_frames))
    if p.source == "tracklets":
        cells = learn_data.tracklet_cells(p.annotation, labels_at, p.voxel_size, p.n_frames)
    else:
        cells = learn_data.ctc_cells(p.annotation, labels_at, frames)
    log.info("learning the tracking weights from %s: %d cells, %d links", cells.source, len(cells.cells),
             len(cells.links))
    exs, data = learn_data.examples(nodes, cells, crops, tracking, p.window_size, ndim=ndim)
    learn_data.check_divisions(exs, tracking, cells.source)
    log.info("%d examples; annotation made representable: %s", len(exs), data["representable"])
    settings = learn.LearnSettings(C=learn_cfg["C"], max_iterations=learn_cfg["max_iterations"],
                                   tolerance=learn_cfg["tolerance"], loss=tuple(learn_cfg["loss"]))
    result = learn.learn_weights(exs, settings, initial=learn.DEFAULT_WEIGHTS, solver=tracking["solver"],
                                 gap=tracking["gap"], threads=smk.threads)
    log.info("learnt weights %s (%s after %d iterations, %.1f s)", result["weights"], result["stopped"],
             len(result["history"]), result["seconds"])
    learn.write_weights(smk.output[0], result, data)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

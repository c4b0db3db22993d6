"""Rule track_learn: learn the five tracking weights (structured SVM) from ground truth or tracklets."""

import logging

from _helpers import run

from lineageflow import annotations, groundtruth, learn, learn_data, normalise, windows
from lineageflow.io import LabelChunks, read_tables, recorded_path

log = logging.getLogger("lineageflow")


def main(smk):
    p = smk.params
    ndim = len(p.voxel_size)
    learn_cfg = p.tracking["learn"]
    crops = learn_data.parse_crops(learn_cfg["crop"], p.n_train_frames, ndim)
    tracking = {**p.tracking, "weights": list(learn.DEFAULT_WEIGHTS)}
    crop_frames = sorted({t for c in crops for t in c.frames()})
    fit = dict(max_count=tracking["max_count"], fallback_confidence=p.classify["fallback_confidence"])
    # the objects and object classes of the movie the weights learn on (the input, or the training sequence): made
    # by the per-chunk rules
    table, meta = read_tables(smk.input.tables)
    probs, _ = read_tables(smk.input.probabilities, expected=meta)
    labels_at, n_frames = LabelChunks(smk.input.labels), p.n_train_frames
    levels = normalise.intensity_levels(*normalise.read_levels(smk.input.normalisation), p.channel)
    frames = crop_frames or list(range(n_frames))
    if p.source in ("gt", "train"):
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

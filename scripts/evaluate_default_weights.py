"""Rule evaluate_default_weights: the run's objects tracked with the default weights and scored like the run."""

import logging

from _helpers import run

from lineageflow import learn, retrack, windows
from lineageflow.evaluate import evaluate_ctc, write_metrics
from lineageflow.io import LabelChunks, open_movie, read_tables, recorded_path

log = logging.getLogger("lineageflow")


def main(smk):
    p = smk.params
    table, meta = read_tables(smk.input.tables)
    probs, _ = read_tables(smk.input.probabilities, expected=meta)
    movie = open_movie(p.raw["path"], dataset=p.raw["dataset"], axes=p.raw["axes"])

    def raw_at(t):
        image = movie.read(t)
        return image[..., p.raw["channel"]] if movie.n_channels else image

    tracking = {**p.tracking, "weights": list(learn.DEFAULT_WEIGHTS)}
    retrack.track_to_ctc(windows.tracking_nodes(table, probs), tracking, n_frames=p.n_frames,
                         window_size=p.window_size, overlap=p.overlap, labels_at=LabelChunks(smk.input.labels),
                         voxel_size=p.voxel_size, seed=p.seed, raw_at=raw_at, out_dir=smk.output.ctc,
                         first_frame_labels=p.first_frame_labels)
    metrics = evaluate_ctc(smk.output.ctc, p.gt)
    log.info("default weights: %s", {k: metrics[k] for k in ("TRA", "DET", "LNK", "division_f1") if k in metrics})
    for key in ("gt_dir", "pred_dir"):
        metrics[key] = recorded_path(metrics[key], p.out)
    write_metrics(smk.output.metrics, metrics)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))

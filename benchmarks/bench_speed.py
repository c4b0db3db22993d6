"""Where the workflow's time goes (issue #12, measurement only): per-rule seconds and CPU from Snakemake's benchmark
files, per-frame and per-megapixel figures, and our pixel stage against a scikit-image + scikit-learn baseline.
It prints figures and asserts nothing.

    python benchmarks/bench_speed.py summary RUN_OUT [--wall SECONDS] [--cores N]
    python benchmarks/bench_speed.py run WORK --dataset SIM|GOWT1|CHO|demo [--cores 2] [--config KEY=VALUE ...]
    python benchmarks/bench_speed.py baseline [--sequence PATH] [--frames 3]

summary: one markdown row per rule from RUN_OUT/benchmarks/ (RULE.tsv, or RULE/JOB.tsv for per-chunk and per-window
rules): jobs, summed `s` (wall seconds of the jobs), summed `cpu_time` (user + system seconds of the job's processes),
share of the summed seconds and seconds per frame (job seconds: at --cores 1 on an idle machine, the CPU-seconds
one core spends; Snakemake's sampled cpu_time undercounts jobs longer than 15 s and is shown beside them). A file
with several rows (benchmark: repeat) counts as their mean.
Frames are the union of the frame ranges that per-chunk benchmark files are named after (NNNN-MMMM.tsv = frames NNNN
to MMMM, as lineageflow.plan names chunks), the training sequence's rules (RULE_train) left out: the input's frames,
whatever the input's format, read from the benchmark folder alone. Pixels per frame come from the pixel stage's own
output (pixels/probabilities/*.h5, dataset exported_data, axes t[z]yxc); pixels_predict is reported per megapixel
(per megavoxel in 3D). classify_apply is reported per object (the rows of objects/features/*.parquet): CPU in its
jobs, and lineageflow.classifiers.classify_table alone, timed here on the run's tables and classifiers, against the
CPU of the track_window jobs. With --wall and --cores: orchestration overhead = (wall × cores − summed rule seconds) /
(wall × cores).

run: the one-command workflow into a fresh WORK/DATASET/out (the demo: config/config.yaml's built-in demo), timed,
then its summary with that wall time and core count.

baseline: on one core (threadpoolctl limits BLAS/OpenMP to 1 thread; forests n_jobs=1; skimage workers=1), our pixel
stage (the workflow's default normalisation, FeatureSpec.default(), 100 trees) against scikit-image's
multiscale_basic_features (defaults) + RandomForestClassifier(100 trees), both trained on the same scribbles sampled
from the ground truth of the first two GT frames, both predicting frames 0..FRAMES-1. Our forest time is
pixels.predict minus our feature time (the rest of the real prediction call).
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from _workflow_runs import DATASETS, ROOT, SHARED, run_workflow

DEFAULT_SEQUENCE = SHARED / DATASETS["SIM"][0]
CHUNK = re.compile(r"^(\d+)-(\d+)$")  # a per-chunk (or per-window) job's file name: first-last frame, inclusive


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


# --- summary -------------------------------------------------------------------------------------------------------

def read_jobs(bench: Path) -> pd.DataFrame:
    """One row per benchmark file: rule, job (file stem), s, cpu_time."""
    rows = []
    for tsv in sorted(bench.rglob("*.tsv")):
        rel = tsv.relative_to(bench)
        try:
            table = pd.read_csv(tsv, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            continue  # a job killed while Snakemake wrote its file
        if "s" not in table or table.empty:
            continue
        cpu = table["cpu_time"] if "cpu_time" in table else pd.Series([np.nan])
        rows.append({"rule": rel.parts[0] if len(rel.parts) > 1 else rel.stem, "job": rel.stem,
                     "s": pd.to_numeric(table["s"], errors="coerce").mean(),
                     "cpu_time": pd.to_numeric(cpu, errors="coerce").mean()})  # "NA" when psutil saw nothing
    return pd.DataFrame(rows, columns=["rule", "job", "s", "cpu_time"])


def frames_of(jobs: pd.DataFrame) -> set[int]:
    """Frames named by per-chunk/per-window job files (union, so overlapping windows count once)."""
    frames = set()
    for job in jobs["job"]:
        m = CHUNK.match(job)
        if m:
            frames.update(range(int(m[1]), int(m[2]) + 1))
    return frames


def pixel_frame_shape(out: Path) -> tuple[int, ...] | None:
    """Spatial shape of the frames the pixel stage predicted (None when it did not run: labels or ilastik input)."""
    files = sorted((out / "pixels" / "probabilities").glob("*.h5"))
    if not files:
        return None
    with h5py.File(files[0], "r") as f:
        return tuple(f["exported_data"].shape[1:-1])  # t, [z,] y, x, c


def summary(out: Path, wall: float | None = None, cores: int | None = None) -> None:
    bench = Path(out) / "benchmarks"
    jobs = read_jobs(bench) if bench.is_dir() else pd.DataFrame()
    if jobs.empty:
        raise SystemExit(f"bench_speed: no Snakemake benchmark files under {bench}")
    n_frames = len(frames_of(jobs[~jobs["rule"].str.endswith("_train")]))  # the input's; RULE_train: train=
    per = jobs.groupby("rule").agg(jobs=("s", "size"), s=("s", "sum"), cpu=("cpu_time", "sum"))
    per = per.sort_values(["s"], ascending=False, kind="stable")
    total_s, total_cpu = per["s"].sum(), per["cpu"].sum()

    def per_frame(v):
        return f"{v / n_frames:.4f}" if n_frames else "n/a"

    print(f"run {out}: {n_frames} frames (named by the per-chunk benchmark files), {len(jobs)} jobs\n")
    print("| rule | jobs | s (sum) | cpu_time s (sum) | share of s | s/frame |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in per.itertuples():
        print(f"| {r.Index} | {r.jobs} | {r.s:.2f} | {r.cpu:.2f} | {100 * r.s / total_s:.1f} % | {per_frame(r.s)} |")
    print(f"| **total** | {len(jobs)} | {total_s:.2f} | {total_cpu:.2f} | 100 % | {per_frame(total_s)} |\n")
    # the jobs' own seconds: at --cores 1 on an idle machine, what one core spends. Snakemake samples cpu_time every
    # 0.5 s for a job's first 15 s and then every 30 s, so it undercounts jobs longer than 15 s.
    print(f"job-s per frame (all rules): {per_frame(total_s)}")
    print(f"cpu_time per frame as Snakemake sampled it (undercounts jobs over 15 s): {per_frame(total_cpu)}")

    shape = pixel_frame_shape(Path(out))
    predict = jobs[jobs["rule"] == "pixels_predict"]
    if shape is not None and not predict.empty:
        unit = "MV" if len(shape) == 3 else "MP"  # megavoxel in 3D
        mp = len(frames_of(predict)) * float(np.prod(shape)) / 1e6
        print(f"pixels_predict: {predict['s'].sum() / mp:.2f} job-s/{unit} (s/{unit} per core at --cores 1), "
              f"sampled cpu_time {predict['cpu_time'].sum() / mp:.2f} s/{unit}; {len(frames_of(predict))} frames of "
              f"{'×'.join(map(str, shape))} = {mp:.3f} {unit}")
    else:
        print("pixels_predict: no figure (the run has no pixel-stage jobs or no pixels/probabilities/*.h5)")
    object_costs(Path(out), jobs)
    if wall is not None and cores:
        budget = wall * cores
        print(f"orchestration overhead: {100 * (budget - total_s) / budget:.1f} % (wall {wall:.1f} s × {cores} cores"
              f" = {budget:.1f} core-s, rule jobs {total_s:.1f} s)")


def object_costs(out: Path, jobs: pd.DataFrame) -> None:
    """Per-object cost of classify_apply (jobs, and classify_table alone in this process: count + division features
    and forests) against the tracking windows' jobs."""
    import pyarrow.parquet as pq

    tables = sorted((out / "objects" / "features").glob("*.parquet"))
    n_objects = sum(pq.ParquetFile(t).metadata.num_rows for t in tables)
    apply, track = jobs[jobs["rule"] == "classify_apply"], jobs[jobs["rule"] == "track_window"]
    if not n_objects or apply.empty:
        print("classify_apply: no figure (no object tables or no classify_apply jobs)")
        return
    compute = classify_seconds(out, tables)
    print(f"classify_apply: {n_objects} objects, {1e3 * apply['s'].sum() / n_objects:.2f} job-ms per object "
          f"in its jobs, {1e6 * compute / n_objects:.0f} µs per object for classify_table alone ({compute:.2f} s, "
          f"features of divisions included); track_window jobs {track['s'].sum():.2f} job-s "
          f"(classify_apply / track_window: {apply['s'].sum() / max(track['s'].sum(), 1e-9):.2f})")


def classify_seconds(out: Path, tables: list[Path]) -> float:
    """Seconds of lineageflow.classifiers.classify_table over every chunk, as rule classify_apply calls it."""
    from lineageflow import classifiers, config as lf_config, normalise
    from lineageflow.io import read_table

    cfg = lf_config.validate_config({}, lf_config.load_schema(ROOT / "config" / "schema.yaml"))
    count = classifiers.load_optional(out / "classify" / "count_classifier.pkl", kind="count")
    division = classifiers.load_optional(out / "classify" / "division_classifier.pkl", kind="division")
    levels = normalise.intensity_levels(*normalise.read_levels(out / "pixels" / "normalisation.json"), cfg["channel"])
    chunks = [read_table(t) for t in tables]
    total = 0.0
    for i, (table, meta) in enumerate(chunks):
        nxt = chunks[i + 1][0] if i + 1 < len(chunks) else None
        nxt = nxt[nxt["frame"] == meta["frames"][1]] if nxt is not None else None
        _, dt = timed(classifiers.classify_table, table, count_clf=count, division_clf=division,
                      n_frames=meta["n_frames"], next_table=nxt, frames=tuple(meta["frames"]),
                      max_count=cfg["tracking"]["max_count"],
                      fallback_confidence=cfg["classify"]["fallback_confidence"], levels=levels)
        total += dt
    return total


# --- run -----------------------------------------------------------------------------------------------------------

def run(work: Path, dataset: str, cores: int, extra_config: list[str] = ()) -> None:
    if dataset == "demo":
        config = []  # config/config.yaml: the built-in demo
    else:
        rel, extra = DATASETS[dataset]
        config = [f"input={SHARED / rel}", *extra]
    config += list(extra_config)
    out = (Path(work) / dataset / "out").resolve()  # absolute: Snakemake runs from the repository root
    if out.exists():
        shutil.rmtree(out)  # fresh: every job runs, so every job is timed
    result = run_workflow(out, config, cores)
    print(f"{dataset}: wall {result['seconds']:.1f} s with --cores {cores}; TRA {result['TRA']}\n")
    summary(out, result["seconds"], cores)


# --- baseline ------------------------------------------------------------------------------------------------------

def baseline(sequence: Path, n_frames: int) -> None:
    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import RandomForestClassifier
    from threadpoolctl import threadpool_limits

    from lineageflow import compiled_forest, config as lf_config, groundtruth, normalise, pixels, scribbles
    from lineageflow.filters import FeatureSpec, features_first
    from lineageflow.io import open_movie

    gt_dir = groundtruth.sibling_gt(sequence)
    if gt_dir is None:
        raise SystemExit(f"bench_speed: {sequence} has no NN_GT folder beside it (the scribbles come from it)")
    movie = open_movie(sequence)
    gt = groundtruth.mask_frames(gt_dir)
    train_t = sorted(gt)[:2]
    images = [movie.read(t) for t in train_t]
    labels = [scribbles.sample_scribbles(groundtruth.read_mask(gt[t]), seed=t) for t in train_t]
    # the workflow's default normalisation (schema defaults; config/config.yaml does not set it)
    cfg = lf_config.validate_config({}, lf_config.load_schema(ROOT / "config" / "schema.yaml"))
    norm = normalise.Normalisation.from_config(cfg["pixels"]["normalise"])
    spec = FeatureSpec.default()
    frames = range(min(n_frames, movie.n_frames))
    mp = len(frames) * float(np.prod(movie.spatial_shape)) / 1e6
    unit = "MV" if movie.ndim == 3 else "MP"
    rows = {}
    with threadpool_limits(1):  # one core for numpy/scipy's BLAS and OpenMP pools too
        (levels, drift), t_levels = timed(normalise.movie_normalisation, movie.read, movie.n_frames, norm)
        ours, t_ours_train = timed(pixels.train, images, labels, spec, n_trees=100, seed=0, n_jobs=1,
                                   normalisation=norm, levels=[normalise.levels_at(levels, drift, t) for t in train_t])

        def time_ours():
            """(features s, forest s) of our pixel stage over the frames: the forest is the total minus the features."""
            feats, forest = 0.0, 0.0
            for t in frames:
                img, lv = movie.read(t), normalise.levels_at(levels, drift, t)
                _, dt = timed(lambda: features_first(normalise.apply(img, norm, lv), spec))
                _, total = timed(pixels.predict, ours, img, n_jobs=1, levels=lv)
                feats, forest = feats + dt, forest + max(total - dt, 0.0)
            return feats, forest

        rows["ours (normalise + FeatureSpec.default() + forest)"] = (len(ours.feature_names), *time_ours())
        compiled_note = "no C compiler: compiled forest not measured"
        if compiled_forest.find_compiler():
            with tempfile.TemporaryDirectory() as tmp:
                lib = Path(tmp) / "forest.so"
                diff, t_compile = timed(compiled_forest.compile_forest, ours.forest, lib, len(ours.feature_names))
                ours.compiled = compiled_forest.CompiledForest(lib, len(ours.classes), threads=1)
                rows["ours, compiled forest (pixels.forest auto)"] = (len(ours.feature_names), *time_ours())
                ours.compiled = None
            compiled_note = (f"compiled forest: made in {t_compile:.1f} s (once per classifier, rule pixels_compile), "
                             f"largest difference to scikit-learn's probabilities {diff:g}")

        def sk_features(img):
            return multiscale_basic_features(img, workers=1)  # (..., F), defaults otherwise

        def sk_train():
            feats = [sk_features(img) for img in images]
            X = np.concatenate([f[lab > 0] for f, lab in zip(feats, labels)])
            y = np.concatenate([lab[lab > 0] for lab in labels])
            return RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=0).fit(X, y), X.shape[1], len(y)

        (rf, n_sk, n_labelled), t_base_train = timed(sk_train)
        feats, forest = 0.0, 0.0
        for t in frames:
            f, dt = timed(sk_features, movie.read(t))
            _, df = timed(rf.predict_proba, f.reshape(-1, f.shape[-1]))
            feats, forest = feats + dt, forest + df
        rows["baseline (skimage multiscale_basic_features + sklearn)"] = (n_sk, feats, forest)

    print(f"sequence {sequence}: frame {'×'.join(map(str, movie.spatial_shape))}, {len(frames)} frame(s) predicted "
          f"= {mp:.3f} {unit}; one core; scribbles on GT frames {train_t} ({n_labelled} labelled pixels)")
    print(f"training (features + 100 trees): ours {t_ours_train:.1f} s, baseline {t_base_train:.1f} s; our movie levels "
          f"{t_levels:.1f} s (once per movie, rule pixels_normalise; not in the figures below)\n")
    print(f"| pipeline | features | features s/{unit} | forest s/{unit} | total s/{unit} |")
    print("|---|---:|---:|---:|---:|")
    for name, (n_feat, f, r) in rows.items():
        print(f"| {name} | {n_feat} | {f / mp:.2f} | {r / mp:.2f} | {(f + r) / mp:.2f} |")
    print(f"\n{compiled_note}")
    (_, fb, rb) = rows.pop("baseline (skimage multiscale_basic_features + sklearn)")
    for name, (_, fo, ro) in rows.items():
        label = name.split(" (")[0].replace(", ", " ")
        print(f"ratio {label}/baseline: total {(fo + ro) / (fb + rb):.2f} (features {fo / fb:.2f}, "
              f"forest {ro / rb:.2f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="per-rule figures of a finished run folder")
    s.add_argument("out", type=Path)
    s.add_argument("--wall", type=float, help="the run's wall-clock seconds (for the orchestration overhead)")
    s.add_argument("--cores", type=int, help="the run's --cores")
    r = sub.add_parser("run", help="run the workflow on a dataset, timed, then summarise it")
    r.add_argument("work", type=Path)
    r.add_argument("--dataset", required=True, choices=[*DATASETS, "demo"])
    r.add_argument("--cores", type=int, default=2)
    r.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                   help="more config, as snakemake --config takes it, e.g. 'demo={n_frames: 1000}'")
    b = sub.add_parser("baseline", help="our pixel stage against skimage + sklearn, one core")
    b.add_argument("--sequence", type=Path, default=DEFAULT_SEQUENCE, help="CTC sequence folder with NN_GT beside it")
    b.add_argument("--frames", type=int, default=3, help="frames to predict")
    a = ap.parse_args(argv)
    if a.command == "summary":
        summary(a.out, a.wall, a.cores)
    elif a.command == "run":
        run(a.work, a.dataset, a.cores, a.config)
    else:
        baseline(a.sequence, a.frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

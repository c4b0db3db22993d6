# Config validation, resolved inputs, paths and frame chunks shared by all rule files.
import sys

from lineageflow import config as lf_config
from lineageflow import inputs as lf_inputs
from lineageflow.errors import LineageflowError
from lineageflow.plan import frame_chunks
from lineageflow.windows import chunks_of_window, plan_note, time_windows


def _resolve_run(cfg):
    """Validate the config, resolve inputs and plan the jobs; stop with one clear message before any job runs."""
    try:
        valid = lf_config.validate_config(cfg, lf_config.load_schema(workflow.source_path("../config/schema.yaml")))
        run = lf_inputs.resolve(valid)
        chunks = frame_chunks(run.n_frames, valid["frames_per_job"])
        windows = time_windows(run.n_frames, valid["window_size"], valid["overlap"])
        note = plan_note(run.n_frames, valid["window_size"], valid["overlap"])
        if note:
            sys.stderr.write(f"lineageflow: note: {note}\n")
        return valid, run, chunks, windows
    except LineageflowError as exc:
        sys.stderr.write(f"lineageflow: {exc}\n")
        sys.exit(1)


# frame chunks (per-frame stages) and tracking windows are known from the movie's length: no checkpoints
config, RUN, CHUNKS, WINDOWS = _resolve_run(config)
OUT = RUN.out


wildcard_constraints:
    chunk="|".join(CHUNKS),
    window="|".join(WINDOWS),


def raw_input():
    """What a rule reading the raw movie depends on (the generated demo folder, or the user's input)."""
    return f"{OUT}/demo" if RUN.demo else RUN.raw


def gt_input(path):
    """Dependency for a ground-truth folder (the demo's is generated)."""
    return f"{OUT}/demo" if RUN.demo and path.startswith(f"{OUT}/demo") else path


def raw_params():
    return {"path": RUN.raw, "dataset": RUN.raw_dataset, "axes": RUN.raw_axes, "channel": config["channel"]}


def chunk_range(wildcards):
    return CHUNKS[wildcards.chunk]


def window_range(wildcards):
    return WINDOWS[wildcards.window]


def window_tables(kind):
    """Input function: the chunk tables (features or class probabilities) a window reads, and no others."""
    folder = {"features": "objects/features", "probabilities": "classify/probabilities"}[kind]

    def tables(wildcards):
        ids = chunks_of_window(*WINDOWS[wildcards.window], CHUNKS)
        return [f"{OUT}/{folder}/{c}.parquet" for c in ids]

    return tables


def gurobi_tokens():
    """Licence tokens a solving job holds (the `gurobi` resource; cap it with --resources gurobi=N)."""
    return 1 if config["tracking"]["solver"] in ("auto", "gurobi") else 0


def solve_runtime(attempt):
    """Minutes for a solving job: the solver's time limit plus building and I/O, more on each retry."""
    limit = config["tracking"]["time_limit"]
    return (int(limit // 60) + 15 if limit else 60) * attempt


def window_results(kind):
    return expand(f"{OUT}/track/windows/{{window}}/{kind}", window=WINDOWS)


def export_outputs():
    """Outputs of the exports enabled by config key 'exports' (rules export_ctc, export_mamut, ... in export.smk)."""
    return [getattr(rules, f"export_{name}").output[0] for name in config["exports"]]


def all_outputs():
    targets = [*export_outputs(), f"{OUT}/track/lineage.json"]
    if RUN.eval_gt:
        targets += [f"{OUT}/eval/segmentation.json", f"{OUT}/eval/metrics.json"]
    return targets

def train_inputs(wildcards):
    deps = {"raw": raw_input() if RUN.train_raw == RUN.raw else RUN.train_raw}
    if RUN.train_gt:
        deps["gt"] = gt_input(RUN.train_gt)
    return deps

def probabilities_input(wildcards):
    if RUN.objects_from == "probabilities":
        return config["pixels"]["probabilities"]
    return f"{OUT}/pixels/probabilities/{wildcards.chunk}.h5"


def classify_annotation_inputs():
    """The annotation CSV or the ground-truth folder the object classifiers learn from ([] = fall-backs)."""
    if RUN.classify_from == "csv":
        return config["classify"]["annotations"]
    if RUN.classify_from in ("gt", "train"):
        return gt_input(RUN.classify_gt)
    return []


def classify_pixel_classifier():
    """A training sequence's objects are made with the pixel classifier trained on it."""
    return f"{OUT}/pixels/classifier.pkl" if RUN.classify_from == "train" else []


def next_chunk_table(wildcards):
    """The chunk after this one (division features look one frame ahead); [] for the last chunk."""
    ids = list(CHUNKS)
    i = ids.index(wildcards.chunk)
    return [f"{OUT}/objects/features/{ids[i + 1]}.parquet"] if i + 1 < len(ids) else []

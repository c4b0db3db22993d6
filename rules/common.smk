# Config validation, resolved inputs, paths and frame chunks shared by all rule files.
import sys

from pathlib import Path

from lineageflow import compiled_forest as lf_compiled_forest
from lineageflow import config as lf_config
from lineageflow import flow as lf_flow
from lineageflow import groundtruth as lf_groundtruth
from lineageflow import inputs as lf_inputs
from lineageflow import outlock as lf_outlock
from lineageflow import solvers as lf_solvers
from lineageflow import trained_models as lf_trained_models
from lineageflow.errors import LineageflowError
from lineageflow.plan import frame_chunks
from lineageflow.windows import chunks_of_window, plan_note, time_windows


def _resolve_run(cfg):
    """Validate the config, resolve inputs and plan the jobs; stop with one clear message before any job runs."""
    try:
        lf_config.check_command_line(sys.argv)
        valid = lf_config.validate_config(cfg, lf_config.load_schema(workflow.source_path("../config/schema.yaml")))
        lf_solvers.check_requested(valid["tracking"]["solver"])
        forest, forest_note = lf_compiled_forest.backend(valid["pixels"]["forest"])
        run = lf_inputs.resolve(valid)
        if valid["flow"]["enabled"]:
            lf_flow.FlowConfig.from_config(valid["flow"])
            lf_flow.check_movie(run.n_frames)
        chunks = frame_chunks(run.n_frames, valid["frames_per_job"])
        windows = time_windows(run.n_frames, valid["window_size"], valid["overlap"])
        note = plan_note(run.n_frames, valid["window_size"], valid["overlap"])
        notes = ([note] if note else []) + ([forest_note] if forest_note and workflow.is_main_process else [])
        for note in notes + (run.notes if workflow.is_main_process else []):
            sys.stderr.write(f"lineageflow: note: {note}\n")
        executes = lf_outlock.executes(sys.argv)
        if workflow.is_main_process and executes:
            lf_outlock.hold(run.out)  # one run per OUT, whatever folder it was started from
            if lf_outlock.clear_stale_snakemake_locks(run.out):
                sys.stderr.write("lineageflow: note: removed Snakemake's lock left by a killed run on this output "
                                 "folder; resuming\n")
        gt_made_here = run.eval_gt and Path(run.eval_gt).resolve().is_relative_to(Path(run.out).resolve())  # demo
        if workflow.is_main_process and run.eval_gt and (Path(run.eval_gt) / "TRA").is_dir() and not gt_made_here:
            # the CTC checks traccuracy runs when it scores, now rather than after every export (cached per GT files)
            lf_groundtruth.check_ctc_once(run.eval_gt, run.n_frames,
                                          Path(run.out) / ".lineageflow.gt_check.json" if executes else None)
        return valid, run, chunks, windows, forest
    except LineageflowError as exc:
        where = f"{cfg['movie_of']}: " if cfg.get("movie_of") else ""  # a movie of a movies table
        sys.stderr.write(f"lineageflow: {where}{exc}\n")
        sys.exit(1)


# frame chunks (per-frame stages) and tracking windows are known from the movie's length: no checkpoints
config, RUN, CHUNKS, WINDOWS, PIXEL_FOREST = _resolve_run(config)
OUT = RUN.out
# what the run learns, or reads from another run's output folder (config key models)
MODELS = {name: f"{RUN.models or OUT}/{rel}" for name, rel in lf_trained_models.MODEL_FILES.items()}
# config key pixels.forest: the compiled forest pixels_predict runs, or [] for scikit-learn's
COMPILED_FOREST = [f"{OUT}/pixels/classifier_compiled.so"] if PIXEL_FOREST == "compiled" else []


wildcard_constraints:
    chunk="|".join(CHUNKS),
    window="|".join(WINDOWS),


class Sequence:
    """A movie whose frames go through the per-chunk rules (pixels, objects, object classes): the input, and the
    training sequence (config key train) whose objects the object classifiers and the tracking weights learn from.
    The training sequence's files live under OUT/train/ and its rules are named RULE_train."""

    def __init__(self, name, raw, n_frames, files):
        self.name, self.raw, self.n_frames = name, raw, n_frames
        self.chunks = frame_chunks(n_frames, config["frames_per_job"])
        self.chunk_regex = "|".join(self.chunks)
        self._files = files  # frames -> the raw files holding them

    def path(self, rel):
        return f"{OUT}/{rel}" if self.name == "input" else f"{OUT}/{self.name}/{rel}"

    def rule(self, base):
        return base if self.name == "input" else f"{base}_{self.name}"

    def log(self, rule, per_chunk=True):
        name = self.rule(rule)
        return f"{OUT}/logs/{name}/{{chunk}}.log" if per_chunk else f"{OUT}/logs/{name}.log"

    def benchmark(self, rule, per_chunk=True):
        name = self.rule(rule)
        return f"{OUT}/benchmarks/{name}/{{chunk}}.tsv" if per_chunk else f"{OUT}/benchmarks/{name}.tsv"

    def chunk_paths(self, rel):
        """Every chunk's file of ``rel`` (a path with {chunk})."""
        return expand(self.path(rel), chunk=self.chunks)

    def chunk_range(self, wildcards):
        return self.chunks[wildcards.chunk]

    def chunk_raw_input(self, wildcards):
        """The raw files of the chunk's own frames, so that editing a frame reruns only its chunk."""
        return self._files(range(*self.chunks[wildcards.chunk]))

    def chunk_raw_input_and_next(self, wildcards):
        """The raw files of the chunk's frames and of the frame after it (flow looks one frame ahead)."""
        t0, t1 = self.chunks[wildcards.chunk]
        return self._files(range(t0, min(t1 + 1, self.n_frames)))

    def flow_input(self, wildcards):
        """The chunk's flow fields when config key flow.enabled is true, else nothing."""
        return [self.path(f"flow/{wildcards.chunk}.h5")] if config["flow"]["enabled"] else []

    def next_chunk_table(self, wildcards):
        """The chunk after this one (division features look one frame ahead); [] for the last chunk."""
        ids = list(self.chunks)
        i = ids.index(wildcards.chunk)
        return [self.path(f"objects/features/{ids[i + 1]}.parquet")] if i + 1 < len(ids) else []

    def normalisation_input(self):
        """The frames whose pixels give the movie's normalisation levels (config key pixels.normalise.sample_frames)."""
        return self._files(lf_inputs.normalisation_frames(self.n_frames, config["pixels"]["normalise"]))


def raw_input():
    """What the jobs reading the whole raw movie depend on (the generated demo folder, or every file of the input; each
    frame file of a CTC folder, whose own timestamp does not change when a frame is edited in place)."""
    return raw_frames_input(None)


def raw_frames_input(frames):
    """The raw files holding these frames (None = all): a CTC folder's frame files, else the one movie file; the demo
    folder for the demo (its frames are made by a job)."""
    return f"{OUT}/demo" if RUN.demo else RUN.frame_files(frames)


def labels_chunk_input(wildcards):
    """Input function: the chunk's own label image files (config key objects.labels), so an edited one reruns."""
    return [RUN.labels_files[t] for t in range(*CHUNKS[wildcards.chunk])]


def gt_input(path):
    """Dependency for a ground-truth folder (the demo's is generated)."""
    return f"{OUT}/demo" if RUN.demo and path.startswith(f"{OUT}/demo") else path


def raw_params():
    return {"path": RUN.raw, "dataset": RUN.raw_dataset, "axes": RUN.raw_axes, "channel": config["channel"]}


def _train_frame_files(frames):
    files = RUN.train_files
    return list(files) if len(files) == 1 else [files[t] for t in frames]


INPUT = Sequence("input", raw_params(), RUN.n_frames, raw_frames_input)
# the training sequence is segmented by the per-chunk rules when its objects are learnt from
TRAIN = (Sequence("train", {"path": RUN.train_raw, "dataset": "", "axes": "", "channel": config["channel"]},
                  RUN.train_n_frames, _train_frame_files)
         if "train" in (RUN.classify_from, RUN.learn_from) else None)
SEQUENCES = [s for s in (INPUT, TRAIN) if s is not None]


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
    targets = [*export_outputs(), f"{OUT}/track/lineage.json", f"{OUT}/qc/summary.json"]
    if RUN.eval_gt:
        targets += [f"{OUT}/eval/segmentation.json", f"{OUT}/eval/metrics.json"]
        if RUN.learn_from and config["tracking"]["learn"]["compare"]:
            targets.append(f"{OUT}/eval/metrics_default_weights.json")
    return targets

def train_inputs(wildcards):
    """The training movie's files (train=), or the input's frames the classifier trains on; levels and labels."""
    deps = {"raw": raw_frames_input(RUN.train_frames) if RUN.train_raw == RUN.raw else RUN.train_files}
    if RUN.train_raw == RUN.raw and RUN.train_from in ("gt", "labels"):  # the input's levels, computed once
        deps["normalisation"] = f"{OUT}/pixels/normalisation.json"
    if RUN.train_gt:
        deps["gt"] = gt_input(RUN.train_gt)
    return deps

def probabilities_input(wildcards):
    if RUN.objects_from == "probabilities":
        return config["pixels"]["probabilities"]
    return f"{OUT}/pixels/probabilities/{wildcards.chunk}.h5"


def qc_probabilities(wildcards):
    """The chunk's probabilities (ours or ilastik's) for the QC rows; none when objects come from label images."""
    return [] if RUN.objects_from == "labels" else probabilities_input(wildcards)


def classify_annotation_inputs():
    """The annotation CSV or the ground-truth folder the object classifiers learn from ([] = fall-backs)."""
    if RUN.classify_from == "csv":
        return config["classify"]["annotations"]
    if RUN.classify_from in ("gt", "train"):
        return gt_input(RUN.classify_gt)
    return []


def classify_pixel_classifier():
    """A training sequence's objects are made with the pixel classifier trained on it, and so are the objects of
    its augmented copies (config pixels.augment), which the count classifier also learns from."""
    augmented = any(v for section in (config["pixels"]["augment"], config["classify"]["augment"])
                    for k, v in section.items() if k != "seed")
    if RUN.classify_from == "train" or (augmented and RUN.train_from == "gt" and RUN.classify_from == "gt"
                                        and RUN.objects_from == "pixels"):
        return MODELS["pixel_classifier"]
    return []


def learned_weights():
    """weights.json when tracking.weights = learned (every window and the stitch use it); else nothing."""
    return [MODELS["weights"]] if RUN.learn_from else []


def learn_inputs(wildcards):
    """What track_learn reads: the annotation, and the objects and object classes of the movie it is on (the input,
    or the training sequence, made by the per-chunk rules with the classifiers trained on it)."""
    seq = TRAIN if RUN.learn_from == "train" else INPUT
    return {"annotation": gt_input(RUN.learn_gt), "normalisation": seq.path("pixels/normalisation.json"),
            "tables": seq.chunk_paths("objects/features/{chunk}.parquet"),
            "probabilities": seq.chunk_paths("classify/probabilities/{chunk}.parquet"),
            "labels": seq.chunk_paths("objects/labels/{chunk}.h5")}


# --- benchmark report (rules/report.smk) ---------------------------------------------------------------------------
import re
from pathlib import Path as _Path

from lineageflow.groundtruth import sibling_gt as _sibling_gt
from lineageflow.report import safe_name as _safe_name

# keys of a benchmark dataset's run that come from its report.datasets entry, not from this config
_DATASET_KEYS = ("input", "dataset", "axes", "channel", "out", "gt", "train", "train_gt")


def _report_plan():
    """What the report shows: the current run, or the runs of config key report.datasets (one folder each)."""
    rep = config["report"]
    if not rep["datasets"]:
        name = _safe_name(_Path(OUT).name)
        return f"{rep['out'] or OUT}/report", {name: {"name": name, "out": OUT, "raw": raw_params(), "entry": None}}
    root = rep["out"] or "results/benchmark"
    plan = {}
    for i, entry in enumerate(rep["datasets"]):
        name = _safe_name(entry["name"])
        if name in plan:
            sys.stderr.write(f"lineageflow: config key 'report.datasets' names the dataset {name!r} twice\n")
            sys.exit(1)
        cfg = _benchmark_config(entry, f"{root}/{name}", i)
        raw = {k: cfg[k] for k in ("dataset", "axes", "channel")}
        plan[name] = {"name": name, "out": cfg["out"], "raw": {"path": cfg["input"], **raw}, "entry": entry,
                      "index": i, "config": cfg}
    return f"{root}/report", plan


def _benchmark_config(entry, out, i):
    """A benchmark dataset's whole config: this config (without report), its input, gt, out and its overrides."""
    schema = lf_config.load_schema(workflow.source_path("../config/schema.yaml"))
    base = {k: v for k, v in config.items() if k not in ("report", *_DATASET_KEYS)}
    own = {"input": entry["input"], "out": out, "gt": entry.get("gt", "")}
    cfg = _deep_merge(base, {**entry.get("config", {}), **own})
    try:
        if "report" in entry.get("config", {}):
            raise LineageflowError("a benchmark dataset cannot have its own 'report' key")
        return lf_config.validate_config(cfg, schema)
    except LineageflowError as exc:
        sys.stderr.write(f"lineageflow: config key 'report.datasets[{i}].config': {exc}\n")
        sys.exit(1)


def _deep_merge(base, over):
    """``base`` with ``over``'s keys replacing its own, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _deep_merge(base[key], value) if both else value
    return merged


def _report_gt_missing():
    """Why the report cannot measure accuracy (no ground truth), naming the config key that provides it; '' if fine."""
    if not config["report"]["datasets"]:
        if RUN.eval_gt:
            return ""
        return (f"the report needs ground truth for its accuracy section (TRA, DET, LNK, divisions), and the input "
                f"{RUN.raw} has none: set config key 'gt' to its CTC ground-truth folder (with TRA/), or put the "
                f"folder {_Path(RUN.raw).name}_GT beside the input")
    for name, d in REPORT_DATASETS.items():
        entry = d["entry"]
        where = f"report.datasets[{d['index']}] ({name})"
        if not _Path(entry["input"]).exists():
            return f"config key '{where}.input' = {entry['input']!r}: no such file or folder"
        gt = entry.get("gt") or _sibling_gt(entry["input"])
        if not gt or not _Path(gt).exists():
            return (f"the report needs ground truth for its accuracy section, and dataset {name} ({entry['input']}) "
                    f"has none: set config key '{where}.gt' to its CTC ground-truth folder (with TRA/)")
    return ""


REPORT_DIR, REPORT_DATASETS = _report_plan()
if "report" in sys.argv[1:] and not config["movie_of"]:  # the report is asked for: stop before any job
    _missing = _report_gt_missing()
    if _missing:
        sys.stderr.write(f"lineageflow: {_missing}\n")
        sys.exit(1)


def report_inputs(wildcards):
    """The finished run(s) the report reads."""
    if not config["report"]["datasets"]:
        return {"metrics": f"{OUT}/eval/metrics.json", "solution": f"{OUT}/track/solution.json",
                "lineage": f"{OUT}/track/lineage_nodes.parquet", "tracks": f"{OUT}/track/tracks.csv",
                "ctc": f"{OUT}/ctc", "raw": raw_input(), "qc": f"{OUT}/qc/summary.json",
                "qc_plot": f"{OUT}/qc/qc.png",
                **({"flow": INPUT.chunk_paths("flow/{chunk}.h5")} if config["flow"]["enabled"] else {})}
    return {"runs": [f"{d['out']}/benchmark_run.json" for d in REPORT_DATASETS.values()]}


def _report_flow(d):
    """The report's flow section reads a dataset's flow files when its run estimated them (config key flow.enabled)."""
    cfg = d.get("config") or config
    return {"frames_per_job": cfg["frames_per_job"]} if cfg["flow"]["enabled"] else None


def report_pngs(kind):
    if kind == "flow":  # only the datasets with flow
        return [f"{REPORT_DIR}/flow_{name}.png" for name, d in REPORT_DATASETS.items() if _report_flow(d)]
    return [f"{REPORT_DIR}/{kind}_{name}.png" for name in REPORT_DATASETS]


def report_params():
    return [{**{k: d[k] for k in ("name", "out", "raw")}, **({"flow": _report_flow(d)} if _report_flow(d) else {})}
            for d in REPORT_DATASETS.values()]


def benchmark_dataset_config(wildcards):
    return REPORT_DATASETS[wildcards.name]["config"]


def benchmark_dataset_names():
    return "|".join(re.escape(n) for n in REPORT_DATASETS) if config["report"]["datasets"] else "(?!)"


def benchmark_threads():
    """Threads of a benchmark dataset's child run: all cores of a local run (so the datasets run one at a time and
    their timings are comparable); config key 'threads' where --cores is not set (cluster executors)."""
    from snakemake.exceptions import WorkflowError

    try:
        return workflow.cores
    except WorkflowError:
        return config["threads"]


# Config key export.first_frame_labels: rule export_selection (rules/export.smk) keeps the marked lineages.
FIRST_FRAME_LABELS = config["export"]["first_frame_labels"]
if FIRST_FRAME_LABELS and workflow.is_main_process:  # a bad reference image stops the run before any job
    from lineageflow.export.selection import read_reference as _read_reference

    try:
        _read_reference(FIRST_FRAME_LABELS, RUN.spatial_shape)
    except LineageflowError as exc:
        _where = f"{config['movie_of']}: " if config.get("movie_of") else ""  # a movie of a movies table
        sys.stderr.write(f"lineageflow: {_where}{exc}\n")
        sys.exit(1)


def export_lineage(kind):
    """The lineage table (nodes or tracks) the exports read: the tracked lineage, or its selected lineages."""
    if FIRST_FRAME_LABELS:
        return getattr(rules.export_selection.output, kind)
    return getattr(rules.track_lineage.output, kind)

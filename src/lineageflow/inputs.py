"""Resolve a validated config into what the run reads: movie, training source, ground truth, output folder.

Done once when the workflow starts, from file headers only, so that wrong paths fail before any job runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, InputError
from .groundtruth import sibling_gt
from .io import list_frames, open_movie


@dataclass
class RunInputs:
    out: str
    demo: bool
    raw: str                        # movie path (CTC folder, tif or h5)
    raw_dataset: str
    raw_axes: str
    n_frames: int
    spatial_shape: tuple[int, ...]
    n_channels: int
    voxel_size: tuple[float, ...]   # one entry per spatial axis
    objects_from: str               # "pixels" | "probabilities" | "labels"
    train_from: str = ""            # "gt" | "ilp" | "labels" | "" (no pixel training)
    train_raw: str = ""
    train_gt: str = ""
    eval_gt: str = ""               # ground truth of the input, for evaluation ("" = none)
    classify_from: str = "none"     # "csv" | "gt" (input's own) | "train" (train sequence) | "none" (fall-backs)
    classify_gt: str = ""           # ground truth of the input that the object classifiers learn from
    learn_from: str = ""            # tracking weights: "gt" (input's own) | "train" | "tracklets" | "" (not learned)
    learn_gt: str = ""              # CTC ground truth (gt, train) or tracklets file the weights learn from
    learn_crops: list = field(default_factory=list)  # learn_data.Crop
    learn_n_frames: int = 0         # frames of the movie the weights learn on
    notes: list[str] = field(default_factory=list)

    @property
    def ndim(self) -> int:
        return len(self.spatial_shape)


def _path_key(cfg: dict, key: str) -> str:
    """Value of a path config key (dotted), checked to exist when set."""
    node = cfg
    for part in key.split("."):
        node = node[part]
    if node and not Path(node).exists():
        raise InputError(f"config key '{key}' = {node!r}: no such file or folder")
    return node


def demo_paths(out: str) -> tuple[str, str]:
    return f"{out}/demo/01", f"{out}/demo/01_GT"


def resolve(cfg: dict) -> RunInputs:
    """Work out the run from a validated config (see config/schema.yaml)."""
    run = _resolve_objects(cfg)
    _resolve_classifiers(cfg, run)
    _resolve_learning(cfg, run)
    return run


def _resolve_learning(cfg: dict, run: RunInputs) -> None:
    """What tracking.weights = learned learns from: tracklets on the input, else the training sequence's ground
    truth, else the input's own; crops checked against that movie."""
    from .learn_data import parse_crops

    if cfg["tracking"]["weights"] != "learned":
        return
    learn = cfg["tracking"]["learn"]
    n_frames, ndim = run.n_frames, run.ndim
    if learn["tracklets"]:
        run.learn_from, run.learn_gt = "tracklets", _path_key(cfg, "tracking.learn.tracklets")
    elif run.train_from == "gt" and run.train_raw != run.raw:
        run.learn_from, run.learn_gt = "train", run.train_gt
        n_frames = open_movie(run.train_raw, what="training movie (train)").n_frames
    else:
        own = run.train_gt if run.train_from == "gt" else run.eval_gt
        if not (own and (Path(own, "TRA").is_dir() or run.demo)):
            raise ConfigError(
                "config key 'tracking.weights' = 'learned' needs something to learn from: tracklets "
                "(tracking.learn.tracklets: a MaMuT/TrackMate XML or a GEFF graph), a training sequence with ground "
                "truth (train + train_gt), or CTC ground truth with TRA beside the input (gt)")
        run.learn_from, run.learn_gt = "gt", own
    run.learn_crops = parse_crops(learn["crop"], n_frames, ndim)
    run.learn_n_frames = n_frames


def _resolve_classifiers(cfg: dict, run: RunInputs) -> None:
    """Object classifiers learn from an annotation CSV, else from the input's own ground truth (objects are ours)."""
    if cfg["classify"]["annotations"]:
        run.classify_from = "csv"
        _path_key(cfg, "classify.annotations")
        return
    if run.train_from == "gt" and run.train_raw != run.raw:
        # another sequence trains: its own objects and ground truth, never the input's evaluation GT
        run.classify_from, run.classify_gt = "train", run.train_gt
        return
    own_gt = run.train_gt if run.train_from == "gt" else run.eval_gt
    if own_gt and Path(own_gt, "TRA").is_dir() or (run.demo and own_gt):
        run.classify_from, run.classify_gt = "gt", own_gt
    else:
        run.notes.append("no annotations for the object classifiers (classify.annotations, or ground truth beside "
                         "the input): count and division fall-backs are used")


def _resolve_objects(cfg: dict) -> RunInputs:
    demo = not cfg["input"]
    if demo:
        out = cfg["out"] or "results/demo"
        d = cfg["demo"]
        shape = tuple(d["shape"]) or ((192, 192) if d["ndim"] == 2 else (12, 128, 128))
        raw, gt = demo_paths(out)
        run = RunInputs(out=out, demo=True, raw=raw, raw_dataset="", raw_axes="", n_frames=d["n_frames"],
                        spatial_shape=shape, n_channels=0, voxel_size=tuple(d["voxel_size"][-d["ndim"]:]),
                        objects_from="pixels", eval_gt=gt)
        if len(d["voxel_size"]) < d["ndim"]:
            raise ConfigError(f"config key 'demo.voxel_size' has {len(d['voxel_size'])} entries for a {d['ndim']}D demo")
    else:
        raw = _path_key(cfg, "input")
        movie = open_movie(raw, dataset=cfg["dataset"], axes=cfg["axes"])
        name = Path(raw).resolve().name if Path(raw).is_dir() else Path(raw).stem
        if Path(raw).is_dir() and name.isdigit():  # CTC: results/Fluo-N2DH-SIM+_01
            name = f"{Path(raw).resolve().parent.name}_{name}"
        out = cfg["out"] or f"results/{name}"
        vs = cfg["voxel_size"]
        if len(vs) < movie.ndim:
            raise ConfigError(f"config key 'voxel_size' = {vs} has {len(vs)} entries but the input is {movie.ndim}D")
        if movie.n_channels and cfg["channel"] >= movie.n_channels:
            raise ConfigError(f"config key 'channel' = {cfg['channel']} but {raw} has {movie.n_channels} channels")
        run = RunInputs(out=out, demo=False, raw=raw, raw_dataset=movie._dataset, raw_axes=movie._axes,
                        n_frames=movie.n_frames, spatial_shape=movie.spatial_shape, n_channels=movie.n_channels,
                        voxel_size=tuple(float(v) for v in vs[-movie.ndim:]), objects_from="pixels")
        gt = _path_key(cfg, "gt") or str(sibling_gt(raw) or "")
        run.eval_gt = gt

    if cfg["objects"]["labels"]:
        run.objects_from = "labels"
        folder = _path_key(cfg, "objects.labels")
        n = len(list_frames(folder, what="label images (objects.labels)"))
        if n != run.n_frames:
            raise InputError(f"config key 'objects.labels' = {folder!r} has {n} label images but the input has "
                             f"{run.n_frames} frames")
        return run
    if cfg["pixels"]["probabilities"]:
        run.objects_from = "probabilities"
        path = _path_key(cfg, "pixels.probabilities")
        probs = open_movie(path, dataset="exported_data", axes=cfg["pixels"]["probabilities_axes"],
                           what="probabilities (pixels.probabilities)")
        if probs.spatial_shape != run.spatial_shape or probs.n_frames != run.n_frames:
            raise InputError(f"{path}: probabilities have {probs.n_frames} frames of shape {probs.spatial_shape} but "
                             f"the raw input has {run.n_frames} frames of shape {run.spatial_shape}")
        return run

    # pixel classification: decide what trains it
    run.train_raw = _path_key(cfg, "train") or run.raw
    if cfg["pixels"]["ilp"]:
        run.train_from, run.train_gt = "ilp", _path_key(cfg, "pixels.ilp")
    elif cfg["pixels"]["labels"]:
        run.train_from, run.train_gt = "labels", _path_key(cfg, "pixels.labels")
    else:
        run.train_from = "gt"
        if cfg["train"]:
            run.train_gt = _path_key(cfg, "train_gt") or str(sibling_gt(cfg["train"]) or "")
            if not run.train_gt:
                raise InputError(f"config key 'train' = {cfg['train']!r} has no ground truth: set 'train_gt' or put "
                                 f"the CTC folder {Path(cfg['train']).name}_GT beside it")
        else:
            run.train_gt = _path_key(cfg, "train_gt") or run.eval_gt
            if not run.train_gt:
                raise InputError(
                    f"nothing to train the pixel classifier on: {run.raw} has no ground truth folder beside it. "
                    "Set one of: train + train_gt (a sequence with ground truth), pixels.ilp (an ilastik project), "
                    "pixels.labels (sparse label images), pixels.probabilities (an ilastik export) or objects.labels "
                    "(label images)")
    return run

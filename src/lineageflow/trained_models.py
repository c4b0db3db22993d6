"""Models learnt by another run (config key ``models``): the pixel classifier, the object classifiers and the
tracking weights are read from that run's output folder, and nothing is trained here. This is how a movie is tracked
with what was learnt on another one (ilastik's "batch processing" of new data with a trained project), and how a
movies table shares one training between its movies."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError, InputError

# what a run writes, relative to its output folder
MODEL_FILES = {
    "pixel_classifier": "pixels/classifier.pkl",
    "counts": "classify/count_classifier.pkl",
    "division": "classify/division_classifier.pkl",
    "weights": "track/weights.json",
}

# config keys that train something, which cannot be combined with models
_TRAINING_KEYS = ("train", "train_gt", "pixels.ilp", "pixels.labels", "classify.annotations",
                  "tracking.learn.tracklets")


def _value(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def needed(cfg: dict, objects_from: str) -> dict[str, str]:
    """The model files this run reads from the models folder: the pixel classifier when it makes its own
    probabilities, the two object classifiers always, the weights when tracking.weights is learned."""
    names = ["counts", "division"]
    if objects_from == "pixels":
        names.insert(0, "pixel_classifier")
    if cfg["tracking"]["weights"] == "learned":
        names.append("weights")
    return {name: f"{cfg['models']}/{MODEL_FILES[name]}" for name in names}


def use_models(cfg: dict, run) -> None:
    """Point the run at the models folder: it trains nothing (train_from, classify_from and learn_from become
    'models'). The files are checked now unless the same run makes them (a movies table's shared training,
    checked by the table's own plan)."""
    clash = [k for k in _TRAINING_KEYS if _value(cfg, k)]
    if clash:
        raise ConfigError(f"config key 'models' = {cfg['models']!r} uses another run's models, so nothing is trained "
                          f"here; remove {', '.join(repr(k) for k in clash)} (or remove 'models' to train)")
    run.models = cfg["models"]
    if run.objects_from == "pixels":
        run.train_from = "models"
    run.classify_from = "models"
    if cfg["tracking"]["weights"] == "learned":
        run.learn_from = "models"
    if not cfg["movie_of"]:
        check_models(cfg, run)


def check_models(cfg: dict, run) -> None:
    """Every model file the run needs exists, and the pixel classifier fits the movie (dimensions, channels)."""
    folder = Path(cfg["models"])
    if not folder.is_dir():
        raise InputError(f"config key 'models' = {cfg['models']!r}: no such folder (the output folder of the run "
                         "whose models to use)")
    for name, path in needed(cfg, run.objects_from).items():
        if not Path(path).is_file():
            why = " (that run's tracking.weights was not 'learned')" if name == "weights" else ""
            raise InputError(f"config key 'models' = {cfg['models']!r}: {path} is missing{why}; run that workflow "
                             "to the end first, or train here (remove 'models')")
    if run.objects_from == "pixels":
        from .pixels import read_metadata

        path = needed(cfg, run.objects_from)["pixel_classifier"]
        meta = read_metadata(path)
        ndim, nc = int(meta.get("ndim", run.ndim)), int(meta.get("n_channels", run.n_channels))
        if ndim != run.ndim or nc != run.n_channels:
            raise InputError(f"{path}: the pixel classifier was trained on {ndim}D frames with {nc} channel(s), but "
                             f"the input {run.raw} has {run.ndim}D frames with {run.n_channels} channel(s) "
                             "(config key 'models')")

"""Random-forest pixel classifier on ilastik's filter bank (headless ilastik pixel classification).

Train on sparse labels (0 = unlabelled, 1..K = classes), predict per-class probabilities, channel k being
the k-th class value of :attr:`PixelClassifier.classes` (class k+1 for labels 1..K, like ilastik's export).
"""

from __future__ import annotations

import json
import math
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lineageflow.atomic import atomic_path
from lineageflow.errors import InputError
from lineageflow.filters import FeatureSpec, feature_names, features_first
from lineageflow.normalise import Normalisation
from lineageflow import normalise

FORMAT = "lineageflow-pixel-classifier"
# 2: intensity normalisation (files of version 1 load with mode 'none'); 3: the metadata is a pickle of its own before
# the forest's, so what the classifier decided can be read without unpickling the forest (and importing scikit-learn)
FORMAT_VERSION = 3
_ROWS_PER_CHUNK = 1 << 15  # bounds predict_proba's temporaries; 32k rows keep them in cache (fastest measured)
_COMPILED_ROWS = 1 << 18  # the compiled forest's threads share each block; bounds the transposed copy


@dataclass
class PixelClassifier:
    """A trained forest plus everything needed to recompute its features."""

    forest: "RandomForestClassifier"  # noqa: F821 - scikit-learn is imported where a forest is made or read
    spec: FeatureSpec
    voxel_size: tuple[float, ...] | None
    ndim: int  # spatial dimensions of the training images (2 or 3)
    n_channels: int
    channels: bool  # images carry a trailing channel axis
    classes: tuple[int, ...]  # label values, in probability-channel order
    n_jobs: int = 1
    normalisation: Normalisation = Normalisation(mode="none")
    training: dict | None = None  # what it learned from: normalisation levels, augmentation, rows (for the record)
    compiled: object | None = None  # a lineageflow.compiled_forest.CompiledForest of ``forest``, used when set

    @property
    def feature_names(self) -> list[str]:
        return feature_names(self.spec, self.ndim, self.n_channels)

    def metadata(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "voxel_size": list(self.voxel_size) if self.voxel_size is not None else None,
            "ndim": self.ndim,
            "n_channels": self.n_channels,
            "channels": self.channels,
            "classes": list(self.classes),
            "n_trees": len(self.forest.estimators_),
            "normalisation": self.normalisation.to_dict(),
            "training": self.training or {},
        }


def _spatial(image: np.ndarray, channels: bool) -> tuple[tuple[int, ...], int]:
    if channels:
        if image.ndim not in (3, 4):
            raise InputError(f"expected (y, x, c) or (z, y, x, c) image, got shape {image.shape}")
        return image.shape[:-1], image.shape[-1]
    if image.ndim not in (2, 3):
        raise InputError(f"expected (y, x) or (z, y, x) image, got shape {image.shape}")
    return image.shape, 1


def train(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    spec: FeatureSpec | None = None,
    voxel_size=None,
    n_trees: int = 100,
    seed: int = 0,
    n_jobs: int = 1,
    *,
    channels: bool = False,
    normalisation: Normalisation | None = None,
    levels=None,
    augmentation=None,
    record: dict | None = None,
) -> PixelClassifier:
    """Fit a random forest on the labelled pixels of ``images`` (one frame each; labels same spatial shape).

    The forest mirrors ilastik's (vigra) settings: ``n_trees`` fully grown trees, bootstrap samples,
    ⌈√F⌉ features tried per split, Gini impurity. Raises :class:`InputError` when there is no labelled pixel
    or only one class.

    ``normalisation`` (default: none) is applied to every image before its features, with ``levels`` — the
    (2, C) levels of the movie the images come from, or a list of them, one per image (several movies, e.g.
    an ilastik project's lanes) — as :func:`predict` will apply it. ``augmentation``
    (:class:`lineageflow.augment.Augmentation`) adds shifted copies of each labelled frame with the same labels.
    ``record``: what the caller wants kept with the classifier (e.g. the training frames).
    """
    normalisation = normalisation or Normalisation(mode="none")
    # one movie's (2, C) array for all images, or a list with one array (or None) per image
    per_image = list(levels) if isinstance(levels, list) else [levels] * len(images)
    if len(per_image) != len(images) or any(lv is not None and np.ndim(lv) != 2 for lv in per_image):
        raise InputError(f"levels: one (2, C) array for all images or a list of {len(images)} such arrays")
    spec = spec or FeatureSpec.default()
    if isinstance(images, np.ndarray) or isinstance(labels, np.ndarray):
        raise InputError("images and labels must be lists of per-frame arrays")
    if len(images) != len(labels):
        raise InputError(f"got {len(images)} images but {len(labels)} label images")
    if not images:
        raise InputError("no training images given")
    xs, ys = [], []
    ndim = n_ch = None
    for i, (img, lab) in enumerate(zip(images, labels)):
        img, lab = np.asarray(img), np.asarray(lab)
        sp, nc = _spatial(img, channels)
        if lab.shape != sp:
            raise InputError(f"frame {i}: labels have shape {lab.shape}, image spatial shape is {sp}")
        if ndim is None:
            ndim, n_ch = len(sp), nc
        elif (len(sp), nc) != (ndim, n_ch):
            raise InputError(f"frame {i}: {len(sp)}D with {nc} channels differs from frame 0 ({ndim}D, {n_ch})")
        mask = lab > 0
        if not mask.any():
            continue
        copies = [normalise.apply(img, normalisation, per_image[i], channels=channels)]
        if augmentation is not None:
            copies += augmentation.variants(img, normalisation, frame=i, channels=channels)
        for copy in copies:
            feats = features_first(copy, spec, voxel_size, channels=channels)
            xs.append(np.ascontiguousarray(feats[:, mask].T))
            ys.append(lab[mask])
            del feats
    counts = {}
    if ys:
        y = np.concatenate(ys)
        vals, cnt = np.unique(y, return_counts=True)
        counts = {int(v): int(c) for v, c in zip(vals, cnt)}
    if not counts:
        raise InputError("no labelled pixel found in the training labels (all 0); label at least two classes")
    if len(counts) < 2:
        raise InputError(
            "training labels contain only one class: "
            + ", ".join(f"class {k}: {v} pixels" for k, v in counts.items())
            + "; label at least two classes"
        )
    from sklearn.ensemble import RandomForestClassifier

    X = np.concatenate(xs)
    n_feat = X.shape[1]
    forest = RandomForestClassifier(
        n_estimators=int(n_trees),
        max_features=max(1, math.ceil(math.sqrt(n_feat))),  # vigra's default mtry
        bootstrap=True,
        random_state=int(seed),
        n_jobs=int(n_jobs),
    )
    forest.fit(X, y)
    forest.n_jobs = 1  # prediction parallelism is ours (deterministic row chunks)
    vs = tuple(float(v) for v in voxel_size) if voxel_size is not None else None
    record = {"n_rows": int(X.shape[0]), "class_rows": counts,
              "levels": [None if lv is None else np.asarray(lv).tolist() for lv in per_image[:1]],
              "augmentation": augmentation.to_dict() if augmentation is not None else None, **(record or {})}
    return PixelClassifier(forest, spec, vs, ndim, n_ch, channels, tuple(int(c) for c in forest.classes_), n_jobs,
                           normalisation, record)


def predict(clf: PixelClassifier, image: np.ndarray, n_jobs: int | None = None, levels=None) -> np.ndarray:
    """Class probabilities of every pixel: float32, spatial shape + (K,), channel order ``clf.classes``.

    ``levels``: the (2, C) normalisation levels of the movie ``image`` belongs to (needed when the classifier
    normalises per movie; see :func:`lineageflow.normalise.movie_levels`).
    """
    image = np.asarray(image)
    sp, nc = _spatial(image, clf.channels)
    if len(sp) != clf.ndim or nc != clf.n_channels:
        raise InputError(
            f"image of shape {image.shape} does not match the classifier "
            f"({clf.ndim}D, {clf.n_channels} channel(s){', channel-last' if clf.channels else ''})"
        )
    if clf.normalisation.mode == "movie" and levels is None:
        raise InputError("this pixel classifier normalises per movie: pass the movie's levels "
                         "(lineageflow.normalise.movie_levels)")
    image = normalise.apply(image, clf.normalisation, levels, channels=clf.channels)
    feats = features_first(image, clf.spec, clf.voxel_size, channels=clf.channels)
    X = feats.reshape(feats.shape[0], -1)  # (F, N); rows are transposed chunk by chunk, no full copy
    n = X.shape[1]
    out = np.empty((n, len(clf.classes)), np.float32)
    if clf.compiled is None and clf.forest is None:
        raise ValueError("this pixel classifier was loaded without its forest (with_forest=False): set its compiled "
                         "forest before predicting")
    if clf.compiled is not None:  # threads are the compiled forest's own (rows split evenly: deterministic)
        for lo in range(0, n, _COMPILED_ROWS):
            hi = min(lo + _COMPILED_ROWS, n)
            out[lo:hi] = clf.compiled.predict_proba(np.ascontiguousarray(X[:, lo:hi].T))
        return out.reshape(tuple(sp) + (len(clf.classes),))
    bounds = [(lo, min(lo + _ROWS_PER_CHUNK, n)) for lo in range(0, n, _ROWS_PER_CHUNK)]

    def run(b):
        lo, hi = b
        out[lo:hi] = clf.forest.predict_proba(np.ascontiguousarray(X[:, lo:hi].T))

    workers = max(1, int(n_jobs if n_jobs is not None else clf.n_jobs))
    if workers == 1 or len(bounds) == 1:
        for b in bounds:
            run(b)
    else:  # trees release the GIL; chunks are independent, so results do not depend on scheduling
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, bounds))
    return out.reshape(tuple(sp) + (len(clf.classes),))


def save(clf: PixelClassifier, path) -> None:
    """Write the classifier to one file, atomically: two pickles, the metadata (JSON text), then the forest."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(json.dumps(clf.metadata()), fh, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(clf.forest, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _read(path, with_forest: bool):
    """(metadata, forest or None) of a file written by :func:`save` (or by format 1–2: one dict pickle)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pixel classifier {path} does not exist")
    try:
        with open(path, "rb") as fh:
            first = pickle.load(fh)
            if isinstance(first, dict):  # formats 1 and 2
                meta, forest = json.loads(first["metadata_json"]), first["forest"]
            else:
                meta = json.loads(first)
                forest = pickle.load(fh) if with_forest else None
    except Exception as exc:  # any unpickling problem means: not our file
        raise InputError(f"{path} is not a lineageflow pixel classifier: {type(exc).__name__}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path} is not a lineageflow pixel classifier "
                         f"(format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise InputError(f"{path} was written by a newer lineageflow (format {meta['format_version']})")
    return meta, forest


def read_metadata(path) -> dict:
    """The classifier's metadata (dimensions, channels, features, normalisation, training), without its forest."""
    return _read(path, with_forest=False)[0]


def read_training(path) -> dict:
    """What the classifier learned from and decided (``training`` of its metadata, e.g. the objects.split decision),
    without reading its forest."""
    return _read(path, with_forest=False)[0].get("training") or {}


def load(path, n_jobs: int = 1, *, with_forest: bool = True) -> PixelClassifier:
    """Read a classifier written by :func:`save`; :class:`InputError` naming the file if it is not one.

    ``with_forest=False`` skips unpickling the scikit-learn forest (and importing scikit-learn, ~2 s per job): for a
    caller that sets :attr:`PixelClassifier.compiled` before predicting."""
    meta, forest = _read(path, with_forest=with_forest)
    if with_forest:
        from sklearn.ensemble import RandomForestClassifier

        if not isinstance(forest, RandomForestClassifier):
            raise InputError(f"{path} is not a lineageflow pixel classifier (no random forest in it)")
    vs = meta.get("voxel_size")
    return PixelClassifier(
        forest=forest,
        spec=FeatureSpec.from_dict(meta["spec"]),
        voxel_size=tuple(vs) if vs is not None else None,
        ndim=int(meta["ndim"]),
        n_channels=int(meta["n_channels"]),
        channels=bool(meta["channels"]),
        classes=tuple(int(c) for c in meta["classes"]),
        n_jobs=n_jobs,
        normalisation=Normalisation(**meta.get("normalisation", {"mode": "none"})),
        training=meta.get("training"),
    )

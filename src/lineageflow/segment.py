"""Pixels → objects for whole frames in one process: the per-chunk stages chained, for a training movie whose
objects the object classifiers learn from (the input's own objects go through the per-chunk rules)."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd

from . import features, pixels, threshold
from .io import Movie


def segment_frames(movie: Movie, clf: pixels.PixelClassifier, objects_cfg: dict, voxel_size, *, channel: int = 0,
                   frames=None, levels=None) -> Iterator[tuple[int, np.ndarray, pd.DataFrame]]:
    """(frame, label image, object table) per frame, with the same settings as objects_threshold/features.

    ``levels``: the movie's normalisation levels (:func:`lineageflow.normalise.movie_levels`)."""
    for t in range(movie.n_frames) if frames is None else frames:
        image = movie.read(t)
        lab = threshold.threshold_from_config(pixels.predict(clf, image, levels=levels), objects_cfg, voxel_size,
                                              source=f"{movie.source} frame {t}")
        intensity = image[..., channel] if movie.n_channels else image
        yield t, lab, features.object_features(lab, intensity, frame=t, voxel_size=voxel_size,
                                               source=f"{movie.source} frame {t}")

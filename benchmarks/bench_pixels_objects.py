"""Speed of the pixel and object stages: seconds per megapixel for filter features, prediction, thresholding
and object features, on real frames when ../shared/data is there (else on a generated frame).

    python benchmarks/bench_pixels_objects.py [--sequence PATH/TO/CTC/01] [--frames 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from lineageflow import features, groundtruth, pixels, scribbles, threshold
from lineageflow.filters import FeatureSpec, compute_features
from lineageflow.io import open_movie

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "Fluo-N2DH-SIM+" / "01"


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequence", default=str(DEFAULT), help="CTC sequence folder with NN_GT beside it")
    ap.add_argument("--frames", type=int, default=3, help="frames to time (after training on 2 frames)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)

    movie = open_movie(a.sequence)
    gt = groundtruth.mask_frames(groundtruth.sibling_gt(a.sequence))
    spec = FeatureSpec.default()
    train_t = list(gt)[:2]
    imgs = [movie.read(t) for t in train_t]
    labs = [scribbles.sample_scribbles(groundtruth.read_mask(gt[t]), seed=t) for t in train_t]
    clf, t_train = timed(pixels.train, imgs, labs, spec, n_trees=100, seed=0, n_jobs=a.threads)
    mp = np.prod(movie.spatial_shape) / 1e6
    rows = {"features": 0.0, "predict (incl. features)": 0.0, "threshold": 0.0, "object features": 0.0}
    n_obj = 0
    for t in range(a.frames):
        img = movie.read(t)
        _, dt = timed(compute_features, img, spec)
        rows["features"] += dt
        probs, dt = timed(pixels.predict, clf, img)
        rows["predict (incl. features)"] += dt
        lab, dt = timed(threshold.threshold_frame, probs, channel=0, sigma=(1.0,) * movie.ndim)
        rows["threshold"] += dt
        tab, dt = timed(features.object_features, lab, img, frame=t, voxel_size=(1.0,) * movie.ndim)
        rows["object features"] += dt
        n_obj += len(tab)
    print(f"sequence {a.sequence}: frame {movie.spatial_shape} = {mp:.3f} MP, {a.frames} frames, "
          f"{len(spec.selection)} filter×scale entries, 100 trees, {a.threads} thread(s); training took {t_train:.1f} s")
    for name, sec in rows.items():
        print(f"{name:26s} {sec / (mp * a.frames):8.2f} s/MP")
    print(f"objects per frame: {n_obj / a.frames:.1f}")


if __name__ == "__main__":
    main()

"""Generated test data shared by several test files (import it; test files do not import each other)."""

import numpy as np
import pandas as pd


def disk(img, cy, cx, r, value=True):
    """Set the pixels of ``img`` within ``r`` of (cy, cx) to ``value``."""
    yy, xx = np.indices(img.shape)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value


def count_frame(rng, shape=(128, 128)):
    """One frame of objects on a 4×4 grid for the count classifier: singles (r 5, intensity 100), mergers (two
    overlapping r-5 disks under one label, intensity 160) and false detections (r 2, intensity 30), on a
    background of 10 (σ 2). Returns (labels, raw, true count by label)."""
    lab = np.zeros(shape, np.uint16)
    raw = rng.normal(10, 2, shape)
    kinds = rng.permutation([1] * 10 + [2] * 3 + [0] * 3)
    truth = {}
    for i, k in enumerate(kinds):
        cy, cx = 16 + 32 * (i // 4) + rng.integers(-3, 4), 16 + 32 * (i % 4) + rng.integers(-3, 4)
        sub = np.zeros(shape, bool)
        if k == 1:
            disk(sub, cy, cx, 5 + rng.uniform(-0.5, 0.5))
            level = 100
        elif k == 2:
            a = rng.uniform(0, np.pi)
            dy, dx = 4 * np.sin(a), 4 * np.cos(a)
            disk(sub, cy + dy, cx + dx, 5)
            disk(sub, cy - dy, cx - dx, 5)
            level = 160
        else:
            disk(sub, cy, cx, 2)
            level = 30
        lab[sub] = i + 1
        raw[sub] = rng.normal(level, 5, sub.sum())
        truth[i + 1] = int(k)
    return lab, raw, truth


def random_tracking(seed: int, n_frames=5, per_frame=28):
    """A random tracking problem (nodes, candidate edges) small enough for Gurobi's pip licence."""
    rng = np.random.default_rng(seed)
    size = 100.0
    xy = rng.uniform(0, size, (per_frame, 2))
    rows, pos = [], []
    for t in range(n_frames):
        if t:
            xy = np.clip(xy + rng.normal(0, 4, xy.shape), 0, size)
        pc = rng.dirichlet([1, 4, 1], per_frame)
        pdiv = np.where(rng.random(per_frame) < 0.15, rng.uniform(0.3, 0.9, per_frame), rng.uniform(0, 0.1, per_frame))
        for i in range(per_frame):
            rows.append(
                {"frame": t, "label": i + 1, "p_count_0": pc[i, 0], "p_count_1": pc[i, 1], "p_count_2": pc[i, 2],
                 "p_division": pdiv[i], "border_distance": float(min(xy[i].min(), (size - xy[i]).min()))}
            )  # fmt: skip
        pos.append(xy.copy())
    edges = []
    for t in range(n_frames - 1):
        d = np.linalg.norm(pos[t][:, None] - pos[t + 1][None], axis=2)
        for i in range(per_frame):
            for j in np.argsort(d[i])[:3]:
                if d[i, j] < 20:
                    edges.append({"frame": t, "label_src": i + 1, "label_dst": int(j) + 1, "distance": d[i, j]})
    return pd.DataFrame(rows), pd.DataFrame(edges)

"""Generated test data shared by several test files (import it; test files do not import each other)."""

from functools import lru_cache

import numpy as np
import pandas as pd

from conftest import ROOT


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


def random_tracking(seed: int, n_frames=5, per_frame=28, gap_links=False):
    """A random tracking problem (nodes, candidate edges) small enough for Gurobi's pip licence; ``gap_links``
    adds links from t to t+2 (and a ``frame_dst`` column)."""
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
    if gap_links:
        for e in edges:
            e["frame_dst"] = e["frame"] + 1
        for t in range(n_frames - 2):
            d = np.linalg.norm(pos[t][:, None] - pos[t + 2][None], axis=2)
            for i in range(per_frame):
                for j in np.argsort(d[i])[:2]:
                    if d[i, j] < 20:
                        edges.append({"frame": t, "label_src": i + 1, "label_dst": int(j) + 1, "distance": d[i, j],
                                      "frame_dst": t + 2})
    return pd.DataFrame(rows), pd.DataFrame(edges)


# ---------------------------------------------------------------- tracking node tables (test_windows, test_stitch)


@lru_cache(maxsize=None)
def _schema():
    from lineageflow.config import load_schema

    return load_schema(ROOT / "config" / "schema.yaml")


def tracking_config(**overrides) -> dict:
    """The config's ``tracking`` section with the schema defaults, then ``overrides``."""
    from lineageflow.config import validate_config

    tracking = validate_config({}, _schema())["tracking"]
    return {**tracking, **overrides}


FIELD = 300.0  # the field of view is [0, FIELD)² (2D: pos_z = 0)
_KIND_PROBS = {
    "one": (0.04, 0.92, 0.04),  # P(count = 0, 1, 2): a clear single cell
    "two": (0.02, 0.08, 0.90),  # a merger of two cells
    "false": (0.90, 0.08, 0.02),  # a likely false detection
}


def movie(seed=0, n_frames=30, n_cells=10, n_divisions=2, n_false=6, n_missing=4, noise=1.0, spacing=55.0,
          gap_frames=()):
    """A seeded 2D movie as a tracking node table (frame, label, pos_z/y/x, p_count_0..2, p_division,
    border_distance, border_distance_yx, plus the generator's ``cell`` id, -1 for false detections).

    ``n_cells`` cells start on a grid ``spacing`` apart and drift with Gaussian ``noise``; ``n_divisions`` of them
    divide (P(division) 0.9 in the mother's last frame, daughters 12 apart); ``n_missing`` detections of cells are
    dropped and ``n_false`` false detections are scattered; ``gap_frames`` have no detections at all.
    """
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cells)))
    alive = [(i, 40 + spacing * (i // side), 40 + spacing * (i % side)) for i in range(n_cells)]
    drift = {i: rng.normal(0, 0.5, 2) for i in range(n_cells)}
    mothers = rng.choice(n_cells, n_divisions, replace=False)
    divide_at = {int(c): int(t) for c, t in zip(mothers, rng.integers(4, n_frames - 4, n_divisions))}
    rows, next_cell = [], n_cells
    for t in range(n_frames):
        moved = []
        for label, (cell, y, x) in enumerate(alive, start=1):
            dividing = divide_at.get(cell) == t
            rows.append({"frame": t, "label": label, "pos_z": 0.0, "pos_y": y, "pos_x": x, "kind": "one",
                         "p_division": 0.9 if dividing else float(rng.uniform(0.0, 0.05)), "cell": cell})
            if dividing:
                for side_ in (-1, 1):
                    drift[next_cell] = drift[cell]
                    moved.append((next_cell, y + 6 * side_ + rng.normal(0, noise), x + rng.normal(0, noise)))
                    next_cell += 1
            else:
                dy, dx = drift[cell] + rng.normal(0, noise, 2)
                moved.append((cell, y + dy, x + dx))
        alive = moved
    table = pd.DataFrame(rows)
    if n_missing:
        can_miss = np.flatnonzero((table["frame"] > 0) & (table["frame"] < n_frames - 1) & (table["p_division"] < 0.5))
        table = table.drop(index=rng.choice(can_miss, n_missing, replace=False))
    false = [{"frame": int(rng.integers(0, n_frames)), "label": 1000 + i, "pos_z": 0.0,
              "pos_y": float(rng.uniform(10, FIELD - 10)), "pos_x": float(rng.uniform(10, FIELD - 10)),
              "kind": "false", "p_division": 0.0, "cell": -1} for i in range(n_false)]
    table = pd.concat([table, pd.DataFrame(false)], ignore_index=True)
    table = table[~table["frame"].isin(list(gap_frames))]
    probs = np.array([_KIND_PROBS[k] for k in table["kind"]], dtype=float).reshape(-1, 3)
    probs += rng.uniform(0, 0.03, probs.shape)
    probs /= probs.sum(axis=1, keepdims=True)
    for k in range(3):
        table[f"p_count_{k}"] = probs[:, k]
    pos = table[["pos_y", "pos_x"]].to_numpy()
    border = np.minimum(pos, FIELD - pos).min(axis=1).clip(0)
    table = table.assign(border_distance=border, border_distance_yx=border).drop(columns=["kind"])
    return table.sort_values(["frame", "label"], ignore_index=True)

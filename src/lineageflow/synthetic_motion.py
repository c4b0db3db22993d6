"""Strong coherent motion for the synthetic demo (``SyntheticConfig.motion``), with its true displacement field.

The cells' own random motion is simulated as usual; every frame ``t`` the whole tissue is then moved by a global
transform ``T_t`` (drift, rotation or shear in the y/x plane; z untouched), so consecutive frames differ by the
field ``T_{t+1} ∘ T_t⁻¹`` plus the cells' own steps. ``motion_step`` sets the largest per-frame displacement of
that field in nucleus diameters (``2 * radius``). Every transform is bounded in time, so long movies keep their
cells: drift turns on a circle, rotation stays a rotation, shear swings back and forth.

The tissue is simulated on a larger area than the view (padded by the transform's reach plus a margin), at the
configured density, so the view is always covered by cells and the simulation's own border (where cells are
spawned and dropped) is never seen. Cells moved out of view disappear from the ground truth; one that comes
back starts a new track without a parent, as any cell entering the view does (``synthetic.generate`` builds the
tracks from what is visible).

Coordinates are physical, pixel ``i`` at ``i * voxel_size`` (as in ``lineageflow.synthetic``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from lineageflow.errors import ConfigError
from lineageflow.synthetic import MOTIONS, SyntheticConfig, _Simulator, _Trajectories

__all__ = ["MOTIONS", "FieldMotion", "motion_displacement", "simulate"]

_DRIFT_PERIOD = 10  # frames for the drift direction to turn once around: 36 degrees per frame
_SHEAR_SWING = 2  # shear frames in one direction before it turns back: reach = 2 steps at the y borders


def _shear_phase(t: np.ndarray | int) -> np.ndarray:
    """Triangle wave 0, 1, 2, 1, 0, -1, -2, -1, ...: every frame-to-frame change is exactly ±1."""
    a = _SHEAR_SWING
    return a - np.abs(np.mod(np.asarray(t) + a, 4 * a) - 2 * a)


@dataclass(frozen=True)
class FieldMotion:
    """The global transform ``T_t`` of one movie. ``step`` is physical units per frame; ``centre`` and ``half``
    (y, x) are the view's centre and half extent; ``phase`` the seeded start (drift direction in radians,
    rotation sense ±1, shear offset in frames)."""

    kind: str
    ndim: int
    step: float
    centre: np.ndarray
    half: np.ndarray
    phase: float

    @classmethod
    def of(cls, cfg: SyntheticConfig) -> "FieldMotion":
        vs = np.asarray(cfg.spacing, float)[-2:]
        shape = np.asarray(cfg.spatial_shape, float)[-2:]
        # Own stream (seed, 4): streams 0-3 are the simulation, background, noise and illumination.
        rng = np.random.default_rng([cfg.seed, 4])
        if cfg.motion == "drift":
            phase = float(rng.uniform(0, 2 * math.pi))
        elif cfg.motion == "rotation":
            phase = float(rng.choice([-1.0, 1.0]))
        else:
            phase = float(rng.integers(4 * _SHEAR_SWING))
        motion = cls(cfg.motion, cfg.ndim, cfg.motion_step * 2 * cfg.radius, (shape - 1) / 2 * vs, shape * vs / 2,
                     phase)
        if motion.kind == "rotation" and motion.step > 2 * motion.radius_max:
            raise ConfigError(
                f"motion_step={cfg.motion_step} (config key demo.motion_step) is too large for a rotation: "
                f"{motion.step:g} per frame exceeds the view's diameter {2 * motion.radius_max:g}"
            )
        return motion

    @property
    def radius_max(self) -> float:
        """The farthest cell-bearing distance from the rotation centre: the view's half diagonal."""
        return float(np.hypot(*self.half))

    # -- the transform ----------------------------------------------------------------------------------------
    def _drift_offset(self, t) -> np.ndarray:
        # Chord between consecutive points of a circle of this radius = step.
        w = 2 * math.pi / _DRIFT_PERIOD
        r = self.step / (2 * math.sin(w / 2))
        a = self.phase + w * np.asarray(t, float)
        return r * np.stack([np.cos(a), np.sin(a)], axis=-1)

    def _angle(self, t) -> float:
        per_frame = 2 * math.asin(self.step / (2 * self.radius_max))  # chord at the half diagonal = step
        return self.phase * per_frame * t

    def _shear(self, t) -> np.ndarray:
        return _shear_phase(np.asarray(t) + int(self.phase)) * (self.step / self.half[0])

    def turn(self, t: int) -> np.ndarray | None:
        """Rotation matrix (ndim × ndim) of the tissue at frame ``t`` for ``rotation``, else None: nuclei turn
        with the field, so their shape and texture rotate too."""
        if self.kind != "rotation":
            return None
        a = self._angle(t)
        m = np.eye(self.ndim)
        m[-2:, -2:] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
        return m

    def transform(self, t: int, positions: np.ndarray) -> np.ndarray:
        """``T_t`` of tissue positions (n, ndim) → positions in the view at frame ``t``."""
        p = np.array(positions, float, copy=True).reshape(-1, self.ndim)
        yx = p[:, -2:]
        if self.kind == "drift":
            yx += self._drift_offset(t)
        elif self.kind == "rotation":
            m = self.turn(t)[-2:, -2:]
            yx[:] = self.centre + (yx - self.centre) @ m.T
        elif self.kind == "shear":
            yx[:, 1] += self._shear(t) * (yx[:, 0] - self.centre[0])
        return p

    def displacement(self, t: int, positions: np.ndarray) -> np.ndarray:
        """True displacement t → t+1 of the motion field at view positions (n, k), k ≥ 2 with y, x last (so 2D
        positions padded to (z, y, x) work); other axes get 0."""
        p = np.asarray(positions, float)
        if p.ndim != 2 or p.shape[1] < 2:
            raise ValueError(f"positions must be (n, k) with k >= 2 (y, x last), got shape {p.shape}")
        yx = p[:, -2:]
        d = np.zeros_like(p)
        if self.kind == "drift":
            d[:, -2:] = self._drift_offset(t + 1) - self._drift_offset(t)
        elif self.kind == "rotation":
            a = self._angle(1)  # T_{t+1} ∘ T_t⁻¹ is one step of rotation about the centre, whatever t
            m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            d[:, -2:] = self.centre + (yx - self.centre) @ m.T - yx
        elif self.kind == "shear":
            d[:, -1] = (self._shear(t + 1) - self._shear(t)) * (yx[:, 0] - self.centre[0])
        return d

    def reach(self) -> np.ndarray:
        """How far (y, x, physical) beyond the view the tissue must extend so that ``T_t⁻¹`` of the view stays
        inside it at every ``t``."""
        if self.kind == "drift":
            r = float(np.linalg.norm(self._drift_offset(0)))
            return np.array([r, r])
        if self.kind == "rotation":
            return self.radius_max - self.half  # the view's circumscribed circle
        if self.kind == "shear":
            return np.array([0.0, _SHEAR_SWING * self.step])
        return np.zeros(2)


def motion_displacement(config: SyntheticConfig, t: int, positions: np.ndarray) -> np.ndarray:
    """True per-frame displacement (t → t+1) of ``config``'s motion field at physical view positions.

    ``positions`` is (n, k) with y, x as the last two columns (``(n, ndim)`` or, for 2D, ``(n, 3)`` as z, y, x);
    the result has the same shape, in physical units, zero on every other axis and everywhere for ``"none"``.
    An object at ``p`` in frame ``t`` is expected near ``p + displacement`` in frame ``t+1`` (up to its own
    random step, which has rms ``config.speed``).
    """
    p = np.asarray(positions, float)
    if config.motion == "none":
        if p.ndim != 2 or p.shape[1] < 2:
            raise ValueError(f"positions must be (n, k) with k >= 2 (y, x last), got shape {p.shape}")
        return np.zeros_like(p)
    return FieldMotion.of(config).displacement(t, p)


def simulate(cfg: SyntheticConfig) -> _Trajectories:
    """Trajectories of ``cfg`` with its motion applied: positions in the view's coordinates, one rotation matrix
    per frame for ``rotation`` (``turns``)."""
    motion = FieldMotion.of(cfg)
    vs = np.asarray(cfg.spacing, float)
    shape = np.asarray(cfg.spatial_shape)
    pad = np.zeros(cfg.ndim, int)
    # A margin of two radii keeps the simulation's border (spawns, drops) out of view.
    pad[-2:] = np.ceil((motion.reach() + 2 * cfg.radius) / vs[-2:]).astype(int)
    big = shape + 2 * pad
    ratio = float(np.prod(big[-2:]) / np.prod(shape[-2:]))  # same cell density on the larger area
    n_cells = max(1, int(round(cfg.n_cells * ratio)))
    sim_cfg = replace(
        cfg,
        motion="none",
        shape=tuple(int(s) for s in big),
        n_cells=n_cells,
        max_cells=max(n_cells, int(math.ceil(cfg.cell_cap * ratio))),
        # A given entry rate is per view border length: scale it with the perimeter.
        entry_rate=None if cfg.entry_rate is None else cfg.entry_rate * float(big[-2:].sum() / shape[-2:].sum()),
    )
    traj = _Simulator(sim_cfg).run()
    shift = pad * vs
    frames = [(uids, motion.transform(t, pos - shift)) for t, (uids, pos) in enumerate(traj.frames)]
    turns = [motion.turn(t) for t in range(cfg.n_frames)] if motion.kind == "rotation" else None
    return _Trajectories(traj.cells, frames, traj.entry_rate, turns)

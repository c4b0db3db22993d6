"""Training-set augmentation for the pixel classifier: shifted copies of each labelled frame, same labels.

Each copy is made in raw intensities, as another acquisition would make it, and then normalised by its own
levels, as a movie of such frames would be at prediction time:

* ``contrast`` s: object–background contrast × s with the noise level kept (:func:`lineageflow.shift.shift_frame`);
* ``gain`` g: intensities × g, rounded to the frame's integer dtype (coarser quantisation);
* ``noise`` k: Gaussian noise of k × the frame's own noise σ added;
* ``poisson`` P: shot noise with P photons at the frame's high level (99.8th percentile) above its low level;
* ``blur`` σ: Gaussian blur of σ pixels (defocus).

Copies are deterministic from ``seed`` and the frame's index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from lineageflow import normalise, shift
from lineageflow.errors import ConfigError

_KINDS = ("contrast", "gain", "noise", "poisson", "blur")


@dataclass(frozen=True)
class Augmentation:
    contrast: tuple[float, ...] = ()
    gain: tuple[float, ...] = ()
    noise: tuple[float, ...] = ()
    poisson: tuple[float, ...] = ()
    blur: tuple[float, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        for kind in _KINDS:
            values = tuple(float(v) for v in getattr(self, kind))
            object.__setattr__(self, kind, values)
            if any(not np.isfinite(v) or v <= 0 for v in values):
                raise ConfigError(f"config key 'pixels.augment.{kind}' = {list(values)}: values must be > 0")

    @classmethod
    def from_config(cls, section: dict | None) -> "Augmentation | None":
        """None when the section asks for no copy (augmentation off)."""
        section = section or {}
        aug = cls(**{k: tuple(section.get(k, ())) for k in _KINDS}, seed=int(section.get("seed", 0)))
        return aug if aug.n_copies else None

    @property
    def n_copies(self) -> int:
        return sum(len(getattr(self, k)) for k in _KINDS)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def copies(self, image: np.ndarray, frame: int = 0, *, channels: bool = False,
               channel: int = 0) -> list[tuple[str, np.ndarray]]:
        """(name, raw copy) for every configured variant of one frame."""
        if channels:  # channel by channel, each with its own background, noise and noise seed
            per = [self.copies(image[..., c], frame, channel=c) for c in range(image.shape[-1])]
            return [(per[0][i][0], np.stack([p[i][1] for p in per], axis=-1)) for i in range(len(per[0]))]
        img = np.asarray(image)
        stats = shift.movie_stats([img])
        out = []
        for i, s in enumerate(self.contrast):
            out.append((f"contrast{s:g}", shift.shift_frame(img, shift.Shift("aug", contrast=s), stats, frame, 1,
                                                            seed=_seed(self.seed, frame, 0, i, channel))))
        for g in self.gain:
            out.append((f"gain{g:g}", shift.shift_frame(img, shift.Shift("aug", gain=g), stats, frame, 1)))
        for i, k in enumerate(self.noise):
            rng = np.random.default_rng(_seed(self.seed, frame, 1, i, channel))
            out.append((f"noise{k:g}", _as_dtype(img.astype(np.float64) + rng.standard_normal(img.shape)
                                                 * k * max(stats.noise, 1e-6), img.dtype)))
        for i, photons in enumerate(self.poisson):
            rng = np.random.default_rng(_seed(self.seed, frame, 2, i, channel))
            unit = max(stats.high - stats.low, 1e-6) / photons  # intensity of one photon
            signal = np.clip(img.astype(np.float64) - stats.low, 0, None) / unit
            out.append((f"poisson{photons:g}", _as_dtype(stats.low + rng.poisson(signal) * unit, img.dtype)))
        for sigma in self.blur:
            out.append((f"blur{sigma:g}", _as_dtype(ndimage.gaussian_filter(img.astype(np.float64), sigma),
                                                    img.dtype)))
        return out

    def variants(self, image: np.ndarray, norm: normalise.Normalisation, frame: int = 0, *,
                 channels: bool = False) -> list[np.ndarray]:
        """The copies, each normalised by its own levels (as a movie of such frames would be)."""
        own = norm.per_frame()
        return [normalise.apply(c, own, channels=channels) for _, c in self.copies(image, frame, channels=channels)]


def _seed(seed: int, frame: int, kind: int, i: int, channel: int) -> list[int]:
    return [int(seed), int(frame), kind, i, int(channel)]


def _as_dtype(x: np.ndarray, dtype) -> np.ndarray:
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)

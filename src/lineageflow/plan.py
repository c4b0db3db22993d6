"""Job plans: which frames each job handles, so a long movie gives a few hundred jobs, not thousands."""

from __future__ import annotations

from .errors import ConfigError


def frame_chunks(n_frames: int, frames_per_job: int) -> dict[str, tuple[int, int]]:
    """Chunk id → half-open frame range [t0, t1). Ids are the inclusive range, e.g. '0000-0009'."""
    if n_frames < 1:
        raise ConfigError(f"the movie has {n_frames} frames; at least 1 is needed")
    if frames_per_job < 1:
        raise ConfigError(f"config key 'frames_per_job' = {frames_per_job}; it must be at least 1")
    width = max(4, len(str(n_frames - 1)))
    chunks = {}
    for t0 in range(0, n_frames, frames_per_job):
        t1 = min(t0 + frames_per_job, n_frames)
        chunks[f"{t0:0{width}d}-{t1 - 1:0{width}d}"] = (t0, t1)
    return chunks


def parse_chunk(chunk: str) -> tuple[int, int]:
    """'0010-0019' → (10, 20)."""
    a, b = chunk.split("-")
    return int(a), int(b) + 1

"""Job plans: which frames each job handles, so a long movie gives a few hundred jobs, not thousands."""

from __future__ import annotations

from .errors import ConfigError


def frame_chunks(n_frames: int, frames_per_job: int) -> dict[str, tuple[int, int]]:
    """Chunk id → half-open frame range [t0, t1). Ids are the inclusive range, e.g. '0000-0009'.

    As few chunks as hold at most ``frames_per_job`` frames each, their sizes differing by one at most (30 frames at
    25 per job are 15 + 15, not 25 + 5): parallel jobs of a short movie then finish together."""
    if n_frames < 1:
        raise ConfigError(f"the movie has {n_frames} frames; at least 1 is needed")
    if frames_per_job < 1:
        raise ConfigError(f"config key 'frames_per_job' = {frames_per_job}; it must be at least 1")
    width = max(4, len(str(n_frames - 1)))
    n_chunks = -(-n_frames // frames_per_job)
    size, longer = divmod(n_frames, n_chunks)  # the first `longer` chunks get one frame more
    chunks, t0 = {}, 0
    for i in range(n_chunks):
        t1 = t0 + size + (i < longer)
        chunks[f"{t0:0{width}d}-{t1 - 1:0{width}d}"] = (t0, t1)
        t0 = t1
    return chunks


def parse_chunk(chunk: str) -> tuple[int, int]:
    """'0010-0019' → (10, 20)."""
    a, b = chunk.split("-")
    return int(a), int(b) + 1

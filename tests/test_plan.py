"""Tests of lineageflow.plan (frame chunks per job)."""

import pytest

from lineageflow.errors import ConfigError
from lineageflow.plan import frame_chunks, parse_chunk


@pytest.mark.parametrize("n_frames, per_job", [(1, 1), (1, 10), (10, 10), (11, 10), (30, 10), (65, 10), (92, 7),
                                               (5, 1), (3, 100)])
def test_coverage_without_overlap(n_frames, per_job):
    chunks = frame_chunks(n_frames, per_job)
    covered = [t for t0, t1 in chunks.values() for t in range(t0, t1)]
    assert covered == list(range(n_frames))  # every frame once, in order
    assert len(chunks) == -(-n_frames // per_job)
    for t0, t1 in chunks.values():
        assert 0 < t1 - t0 <= per_job


def test_ids():
    chunks = frame_chunks(30, 10)
    assert chunks == {"0000-0009": (0, 10), "0010-0019": (10, 20), "0020-0029": (20, 30)}
    for cid, rng in chunks.items():
        assert parse_chunk(cid) == rng


def test_chunks_are_even():
    """Frames spread evenly: sizes differ by one at most, longer chunks first."""
    chunks = frame_chunks(65, 10)
    assert [t1 - t0 for t0, t1 in chunks.values()] == [10, 10, 9, 9, 9, 9, 9]
    assert list(chunks)[-1] == "0056-0064" and chunks["0056-0064"] == (56, 65)
    assert frame_chunks(30, 25) == {"0000-0014": (0, 15), "0015-0029": (15, 30)}
    assert frame_chunks(65, 25) == {"0000-0021": (0, 22), "0022-0043": (22, 44), "0044-0064": (44, 65)}
    assert list(frame_chunks(1, 10).items()) == [("0000-0000", (0, 1))]


def test_ids_sort_like_frames():
    """Ids are zero-padded, so sorting them as strings sorts the chunks by time."""
    chunks = frame_chunks(25000, 1000)
    assert list(chunks) == sorted(chunks)
    assert list(chunks)[0] == "00000-00999"
    assert list(chunks)[-1] == "24000-24999"
    assert len({len(c) for c in chunks}) == 1


def test_one_frame_per_job():
    chunks = frame_chunks(3, 1)
    assert chunks == {"0000-0000": (0, 1), "0001-0001": (1, 2), "0002-0002": (2, 3)}


@pytest.mark.parametrize("n_frames, per_job, word", [(0, 10, "frames"), (-1, 10, "frames"),
                                                     (10, 0, "frames_per_job"), (10, -5, "frames_per_job")])
def test_errors(n_frames, per_job, word):
    with pytest.raises(ConfigError) as e:
        frame_chunks(n_frames, per_job)
    assert word in str(e.value)


def test_parse_chunk():
    assert parse_chunk("0010-0019") == (10, 20)
    assert parse_chunk("0000-0000") == (0, 1)

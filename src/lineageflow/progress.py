"""Progress of a long job in its log: ``frame 12/25 (48 %), ETA 0:00:31``, at sensible intervals.

A line is logged after the first item (the first ETA), at every further tenth of the work, at least every
``interval`` seconds in between (a slow job still says it is alive), and after the last item.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import TypeVar

T = TypeVar("T")

DEFAULT_INTERVAL = 30.0  # seconds between two lines at most (when an item takes that long, one line per item)


def format_eta(seconds: float) -> str:
    """H:MM:SS, to the nearest second."""
    return str(timedelta(seconds=round(max(seconds, 0.0))))


class Progress:
    """Counts items done and logs a progress line when one is due (see the module docstring)."""

    def __init__(self, total: int, log: logging.Logger, what: str = "frame", *, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.log, self.what, self.interval, self.clock = int(total), log, what, interval, clock
        self.done = 0
        self.start = self.last = clock()
        self.next_tenth = 1

    def step(self) -> None:
        """One more item done; log if due."""
        self.done += 1
        now = self.clock()
        tenth = self.done * 10 // self.total if self.total > 0 else 10
        if self.done == 1 or self.done >= self.total or tenth >= self.next_tenth or now - self.last >= self.interval:
            self.log.info("%s", progress_line(self.what, self.done, self.total, now - self.start))
            self.last = now
            self.next_tenth = tenth + 1


def progress(iterable: Iterable[T], total: int, log: logging.Logger, what: str = "frame", *,
             interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic) -> Iterator[T]:
    """Yield the items of ``iterable`` and log, after an item is done, ``{what} i/total (p %), ETA h:mm:ss``
    (the ETA from the mean time per item so far) when the item is the first or the last, completes a further tenth
    of ``total``, or ``interval`` seconds have passed since the last line."""
    counter = Progress(total, log, what, interval=interval, clock=clock)
    for item in iterable:
        yield item
        counter.step()


def progress_line(what: str, done: int, total: int, elapsed: float) -> str:
    """``frame 12/25 (48 %), ETA 0:00:31``; after the last item, the time it all took instead of the ETA."""
    if total <= 0:
        return f"{what} {done}, {format_eta(elapsed)} elapsed"
    percent = int(100 * done / total)
    if done >= total:
        return f"{what} {done}/{total} (100 %), done in {format_eta(elapsed)}"
    eta = elapsed / done * (total - done) if done else 0.0
    return f"{what} {done}/{total} ({percent} %), ETA {format_eta(eta)}"

"""What compiled libraries print (CBC, HiGHS and Gurobi write their progress to the process's standard output from
C/C++) sent to a Python logger instead, one log record per line, as it is printed.

The process's file descriptor 1 is pointed at a pipe for the duration; a thread reads the pipe and logs each line.
While it lasts, anything else written to standard output (Python's too) goes to the log as well, so no logging
handler may write to standard output then (the rule scripts log to their log file or to standard error).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from contextlib import contextmanager
from typing import Iterator


def _flush_stdout() -> None:
    """Flush Python's and the C library's buffered standard output (a pipe is block-buffered: lines would arrive
    late, or after the block)."""
    for stream in {id(s): s for s in (sys.stdout, sys.__stdout__) if s is not None}.values():
        stream.flush()
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library handle (e.g. Windows): nothing buffered to reach
        pass


def _pump(fd: int, logger: logging.Logger, level: int) -> None:
    with os.fdopen(fd, "rb") as pipe:
        for raw in pipe:
            for line in raw.decode(errors="replace").replace("\r", "\n").splitlines():
                if line.strip():
                    logger.log(level, "%s", line.rstrip())


@contextmanager
def stdout_to_log(logger: logging.Logger, level: int = logging.INFO) -> Iterator[None]:
    """Within the block, every line written to file descriptor 1 becomes a record of ``logger`` at ``level``."""
    _flush_stdout()
    saved = os.dup(1)
    read_end, write_end = os.pipe()
    reader = threading.Thread(target=_pump, args=(read_end, logger, level), name="stdout-to-log", daemon=True)
    reader.start()
    os.dup2(write_end, 1)
    os.close(write_end)
    try:
        yield
    finally:
        _flush_stdout()
        os.dup2(saved, 1)  # closes the pipe's last write end: the reader sees the end and stops
        os.close(saved)
        reader.join()

"""Shared set-up for rule scripts: log to the rule's log file, turn user errors and a full disk into one clear line
and exit 1.

Every script also runs standalone: ``python scripts/NAME.py --help`` builds a stand-in for Snakemake's object
from the command line (``--input k=v``, ``--output k=v``, ``--params JSON``, ``--log FILE``).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import shutil
import sys
import traceback
import warnings
from pathlib import Path
from types import SimpleNamespace

# Third-party progress bars (traccuracy's and pybdv's tqdm) would draw on the terminal over Snakemake's own output:
# off in every rule script. tqdm reads TQDM_* variables when it is imported, so this runs before any import of it.
os.environ.setdefault("TQDM_DISABLE", "1")

from lineageflow.errors import LineageflowError  # noqa: E402 - after the environment is set


class _Files(list):
    """A list that also answers by name, like snakemake.input / snakemake.output."""

    def __init__(self, mapping: dict):
        super().__init__(mapping.values())
        self.__dict__.update(mapping)


def mock_snakemake(argv=None):
    """Stand-in for the ``snakemake`` object, from the command line (for running a script outside the workflow)."""
    ap = argparse.ArgumentParser(description="Run a lineageflow rule script outside Snakemake.")
    ap.add_argument("--input", nargs="*", default=[], metavar="NAME=PATH")
    ap.add_argument("--output", nargs="*", default=[], metavar="NAME=PATH")
    ap.add_argument("--params", default="{}", help="JSON object of the rule's params")
    ap.add_argument("--wildcards", default="{}", help="JSON object of wildcards")
    ap.add_argument("--log", default="", help="log file (default: stderr)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)

    def files(pairs):
        return _Files(dict(p.split("=", 1) for p in pairs))

    return SimpleNamespace(input=files(a.input), output=files(a.output), params=SimpleNamespace(**json.loads(a.params)),
                           wildcards=SimpleNamespace(**json.loads(a.wildcards)), log=[a.log] if a.log else [],
                           threads=a.threads)


def run(main, smk=None) -> None:
    """Call ``main(snakemake)`` with logging to the rule's log; a user error, or a disk (quota) full while writing,
    becomes one line on stderr and exit 1. Outputs are written through lineageflow.atomic.atomic_path, so a full
    disk leaves neither a truncated output nor its temporary, and the previous output stays."""
    if smk is None:
        smk = mock_snakemake()
    handlers = [logging.StreamHandler(sys.stderr)]
    if smk.log:
        handlers = [logging.FileHandler(smk.log[0], mode="w")]
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    log = logging.getLogger("lineageflow")
    try:
        main(smk)
    except LineageflowError as exc:
        log.error("%s", exc)
        sys.stderr.write(f"lineageflow error: {exc}\n")
        sys.exit(1)
    except Exception as exc:
        full = disk_full(exc)
        if full is None:
            log.error("unexpected failure:\n%s", traceback.format_exc())
            raise
        message = disk_full_message(full, list(smk.output))
        logging.raiseExceptions = False  # the log is on the full disk too: no "Logging error" traceback on stderr
        log.error("%s", message)
        sys.stderr.write(f"lineageflow error: {message}\n")
        sys.exit(1)


# --- a full disk -------------------------------------------------------------------------------------------------

_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_DISK_FULL_WORDS = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))  # "No space left on device", ...
_TEMPORARY = re.compile(r"^\.(.+)\.[A-Za-z0-9_]+\.tmp$")  # lineageflow.atomic.atomic_path's .NAME.XXXX.tmp


def disk_full(exc: BaseException) -> BaseException | None:
    """The exception in ``exc``'s chain that says the disk (or the quota) is full: an OSError with errno ENOSPC or
    EDQUOT, or one whose message says so (h5py, tifffile and zarr may wrap it); None if there is none."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return exc
        if any(words in str(exc) for words in _DISK_FULL_WORDS):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def public_path(path) -> str:
    """``path`` absolute, with atomic_path's temporaries (``.NAME.XXXX.tmp``) named as the output they become."""
    parts = Path(os.path.abspath(path)).parts
    return str(Path(*[m.group(1) if (m := _TEMPORARY.match(part)) else part for part in parts]))


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000


def disk_full_message(exc: BaseException, outputs: list) -> str:
    """One line: the folder of the job's first output, its free space, and what could not be written."""
    first = os.path.abspath(str(outputs[0])) if outputs else os.getcwd()
    folder = os.path.dirname(first) if outputs else first
    probe = folder
    while probe and not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        free = f"{_size(shutil.disk_usage(probe).free)} free"
    except OSError:
        free = "free space unknown"
    filename = getattr(exc, "filename", None)
    what = public_path(filename if isinstance(filename, (str, os.PathLike)) else first)
    return f"no space left on the device holding {folder} ({free}): writing {what} failed"

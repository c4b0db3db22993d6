"""Shared set-up for rule scripts: log to the rule's log file, turn user errors into one clear line and exit 1.

Every script also runs standalone: ``python scripts/NAME.py --help`` builds a stand-in for Snakemake's object
from the command line (``--input k=v``, ``--output k=v``, ``--params JSON``, ``--log FILE``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
import warnings
from types import SimpleNamespace

from lineageflow.errors import LineageflowError


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
    """Call ``main(snakemake)`` with logging to the rule's log; a user error becomes one line on stderr and exit 1."""
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
    except Exception:
        log.error("unexpected failure:\n%s", traceback.format_exc())
        raise

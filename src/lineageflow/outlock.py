"""One run at a time per output folder: Snakemake locks its working directory, not OUT, so two runs started from
different folders on the same OUT would write the same files. The main Snakemake process holds an advisory lock
on ``OUT/.lineageflow.lock`` for its lifetime (released by the kernel when it ends, even when killed)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import InputError

LOCK_NAME = ".lineageflow.lock"
_held: dict[str, object] = {}  # OUT → open lock file, kept open for the process's lifetime


def hold(out: str | Path) -> None:
    """Lock ``out`` for this process, or raise naming the process that holds it."""
    out = Path(out)
    key = str(out.resolve())
    if key in _held:
        return
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / LOCK_NAME, "a+")
    try:
        fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise InputError(f"output folder {out} is in use by another lineageflow run ({holder}); wait for it to "
                         f"finish, or choose another 'out'") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
    fh.flush()
    _held[key] = fh


NO_EXECUTION = {"-n", "--dry-run", "--dryrun", "--lint", "--unlock", "--list", "-l", "--list-rules",
                "--list-target-rules", "--summary", "-S", "--detailed-summary", "-D", "--dag", "--rulegraph",
                "--filegraph", "--d3dag", "--report", "--cleanup-metadata", "--list-changes", "--lc",
                "--list-input-changes", "--li", "--list-params-changes", "--lp", "--list-code-changes", "--lt",
                "--containerize", "--export-cwl", "--print-compilation", "--version", "-v", "--help", "-h",
                "--delete-all-output", "--delete-temp-output", "--archive", "--conda-create-envs-only"}


def executes(argv: list[str]) -> bool:
    """Whether this Snakemake command line runs jobs (a dry run, lint, unlock, listing or graph does not)."""
    return not any(a in NO_EXECUTION or a.split("=", 1)[0] in NO_EXECUTION for a in argv[1:])


def clear_stale_snakemake_locks(out: str | Path, workdir: str | Path = ".") -> list[Path]:
    """Remove Snakemake's own locks (``.snakemake/locks`` of ``workdir``) whose locked outputs all lie in ``out``.

    Called once this process holds ``out`` (:func:`hold`): no other run can be writing there, so such locks were
    left by a Snakemake that was killed, and the same command can resume without ``--unlock``. Locks of runs that
    write elsewhere are left alone. Returns the lock files removed."""
    locks = Path(workdir) / ".snakemake" / "locks"
    root = Path(out).resolve()
    removed = []
    for out_lock in sorted(locks.glob("*.output.lock")) if locks.is_dir() else []:
        try:
            paths = [p for p in out_lock.read_text().splitlines() if p.strip()]
        except OSError:
            continue
        if paths and all(Path(p).resolve().is_relative_to(root) for p in paths):
            for f in (out_lock, out_lock.with_name(out_lock.name.replace(".output.lock", ".input.lock"))):
                if f.exists():
                    f.unlink()
                    removed.append(f)
    return removed

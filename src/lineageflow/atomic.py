"""Write outputs under a temporary name and rename them into place, so a failed job leaves nothing half-written."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def remove_stale(final: Path) -> list[Path]:
    """Remove what a killed writer of ``final`` left (its ``.NAME.*.tmp`` temporaries and ``.NAME.old``): only
    the job that owns an output writes it, so when that job starts these are stale. Returns what was removed."""
    stale = [p for p in final.parent.glob(f".{glob.escape(final.name)}.*.tmp")]
    old = final.with_name(f".{final.name}.old")
    if old.exists() or old.is_symlink():
        stale.append(old)
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the same folder as ``path``; on success rename it to ``path``.

    Works for files and folders alike (whatever the caller creates at the yielded path).
    On any exception the temporary is removed and ``path`` is left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the caller creates a file or a folder here
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary output for {final}")
        if final.is_dir() and not final.is_symlink():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise

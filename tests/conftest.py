"""Shared test fixtures: where the read-only shared data is, and how to require it."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LINEAGEFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require_shared(*parts: str) -> Path:
    """Path into ../shared/data; skip when missing locally, fail under CI=true (CI always has it)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        msg = f"shared data missing: {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path

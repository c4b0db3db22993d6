"""Shared test fixtures: where the read-only shared data is, how to require it, and how to tell CI from a local run."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LINEAGEFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))

# the shared helper modules assert too: give their failures pytest's detailed messages, as in test files
pytest.register_assert_rewrite("helpers", "export_checks", "workflow_helpers")


def in_ci() -> bool:
    """True under CI: the environment variable CI is 1, true or yes (in any case)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(msg: str) -> None:
    """Skip the test locally; fail it under CI, which always has what the test needs."""
    if in_ci():
        pytest.fail(msg)
    pytest.skip(msg)


def require_shared(*parts: str) -> Path:
    """Path into ../shared/data; skip when missing locally, fail under CI (CI always has it)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        skip_or_fail(f"shared data missing: {path}")
    return path

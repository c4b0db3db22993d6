"""Exporters of a lineage to community formats (one module per format)."""

from .ctc import read_ctc, write_ctc

__all__ = ["read_ctc", "write_ctc"]

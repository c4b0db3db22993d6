"""CTC export checked by a second, independent reader (pycellin's load_CTC_file), besides traccuracy."""

import pytest

from export_checks import N_FRAMES, counts, read_ctc_with_pycellin, small_lineage
from lineageflow.export.ctc import write_ctc


@pytest.mark.parametrize("ndim", [2, 3])
def test_pycellin_reads_our_ctc_export(tmp_path, ndim):
    lin, labels, _, _ = small_lineage(ndim)
    out = write_ctc(lin, labels, N_FRAMES, tmp_path / "ctc")
    got, n_masks = read_ctc_with_pycellin(out)
    ours = counts(lin)
    assert got == {k: ours[k] for k in got}, (got, ours)
    assert n_masks == N_FRAMES

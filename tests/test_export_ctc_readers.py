"""CTC export checked by a second, independent reader (pycellin's load_CTC_file), besides traccuracy."""

import logging

import numpy as np
import pytest
import tifffile

from lineageflow.export.ctc import write_ctc
from test_export_mamut import N_FRAMES, counts, small_lineage


def read_ctc_with_pycellin(folder):
    """pycellin reads res_track.txt (topology); the masks are checked against it here: in every frame the mask
    labels are exactly the tracks that res_track.txt says are alive."""
    from pycellin import load_CTC_file

    logging.getLogger("pycellin").setLevel(logging.ERROR)
    model = load_CTC_file(str(folder / "res_track.txt"))
    lins = model.get_cell_lineages()
    got = {"spots": sum(len(x) for x in lins), "edges": sum(x.number_of_edges() for x in lins),
           "divisions": sum(1 for x in lins for n in x.nodes if x.out_degree(n) >= 2), "lineages": len(lins)}
    rows = [list(map(int, line.split())) for line in (folder / "res_track.txt").read_text().splitlines()]
    masks = sorted(folder.glob("mask*.tif"))
    for t, path in enumerate(masks):
        alive = {L for L, B, E, _ in rows if B <= t <= E}
        present = set(np.unique(tifffile.imread(path)).tolist()) - {0}
        assert present == alive, (path.name, present ^ alive)
    return got, len(masks)


@pytest.mark.parametrize("ndim", [2, 3])
def test_pycellin_reads_our_ctc_export(tmp_path, ndim):
    lin, labels, _, _ = small_lineage(ndim)
    out = write_ctc(lin, labels, N_FRAMES, tmp_path / "ctc")
    got, n_masks = read_ctc_with_pycellin(out)
    ours = counts(lin)
    assert got == {k: ours[k] for k in got}, (got, ours)
    assert n_masks == N_FRAMES

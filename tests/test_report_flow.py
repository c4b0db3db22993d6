"""The report's flow section (lineageflow.report_flow): trajectories through hand-made flow fields (a drift gives
straight parallel lines of one colour, a rotation arcs about its centre), the per-frame table against known
magnitudes, and the report of a real flow-enabled demo run (figure, tables, headless Chromium); a movies table plans
the flow figure for its flow movies only."""

import base64
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import skip_or_fail
from lineageflow import report_flow as F
from lineageflow.errors import InputError
from lineageflow.flow import Grid, magnitude_summary, read_flow_chunk, write_flow_chunk
from lineageflow.report_figures import save_png, scale_bar_length
from workflow_helpers import snakemake

SHAPE = (64, 80)  # y, x pixels
VOXEL = (1.0, 0.5, 0.5)  # z, y, x: a pixel is 0.5 µm


def _grid(shape=SHAPE, voxel=VOXEL):
    return Grid.of(shape, voxel, 4)


def _uniform(grid, n_pairs, d):
    """``n_pairs`` fields moving everything by ``d`` (z, y, x physical)."""
    return np.broadcast_to(np.asarray(d, np.float32)[None, :, None, None, None],
                           (n_pairs, 3, *grid.shape)).copy()


def _grid_positions(grid):
    """Physical positions (3, *grid.shape) of the grid points."""
    idx = np.indices(grid.shape, dtype=float)
    return grid.origin[:, None, None, None] + idx * grid.spacing[:, None, None, None]


def _rotation(grid, n_pairs, angle):
    """A rotation by ``angle`` per frame about the view's centre in the y/x plane (exact, not a small-angle
    approximation: the field is linear in position, so sampling it is exact between grid points)."""
    p = _grid_positions(grid)
    cy, cx = (SHAPE[0] - 1) / 2 * VOXEL[1], (SHAPE[1] - 1) / 2 * VOXEL[2]
    dy, dx = p[1] - cy, p[2] - cx
    c, s = np.cos(angle), np.sin(angle)
    u = np.stack([np.zeros_like(dy), s * dx + c * dy - dy, c * dx - s * dy - dx]).astype(np.float32)
    return np.broadcast_to(u, (n_pairs, *u.shape)).copy(), (cy, cx)


def test_drift_gives_straight_parallel_trajectories_of_one_colour():
    grid, d = _grid(), (0.0, 1.0, 0.5)  # 2 px down, 1 px right per frame
    chunks = [(_uniform(grid, 3, d), grid, 0), (_uniform(grid, 2, d), grid, 3)]  # two chunks, in frame order
    rep = F.summarise(chunks, SHAPE, n_points=50)
    traj = rep.trajectories
    assert traj.shape == (6, 50, 3)  # start + 5 frame pairs
    steps = np.diff(traj, axis=0)
    moved = np.isfinite(steps).all(axis=2)
    assert moved[0].all() and np.allclose(steps[moved], d)  # every step the same: straight, parallel lines
    kept = ~rep.left
    assert kept.sum() > 30 and np.isfinite(traj[:, kept]).all()
    assert np.allclose(F.net_displacement(traj)[kept], 5 * np.asarray(d))  # the right length
    # points near the bottom or right edge leave the view; their lines stop there
    assert np.all(~kept == ((traj[0, :, 1] + 5 * d[1] > (SHAPE[0] - 0.5) * VOXEL[1])
                           | (traj[0, :, 2] + 5 * d[2] > (SHAPE[1] - 0.5) * VOXEL[2])))
    colours = F.direction_colours(traj, still=0.5)
    assert np.allclose(colours, colours[0])  # one direction, one colour
    from matplotlib.colors import rgb_to_hsv

    hue = rgb_to_hsv(colours[0])[0]
    assert hue == pytest.approx(np.arctan2(2, 1) / (2 * np.pi), abs=1e-6)  # down-right, as drawn (y down)
    # the per-frame table: every frame pair moves every grid point by |d|
    assert [f["frame"] for f in rep.frames] == [0, 1, 2, 3, 4]
    for f in rep.frames:
        assert f["mean_displacement"] == pytest.approx(np.hypot(1.0, 0.5))
        assert f["max_displacement"] == pytest.approx(np.hypot(1.0, 0.5))
    rows = F.flow_rows(rep)
    assert rows[0] == ["0 → 1", "1.118", "1.118", "2.2"]  # 1.118 µm = 2.2 px of 0.5 µm
    s = F.summary(rep)
    assert s["pairs"] == 5 and s["left"] == (~kept).sum() and s["max_pixels"] == pytest.approx(2 * np.hypot(1, .5))


def test_rotation_gives_arcs_about_the_centre():
    grid, angle = _grid(), np.deg2rad(6)
    fields, (cy, cx) = _rotation(grid, 8, angle)
    rep = F.summarise([(fields, grid, 0)], SHAPE)
    traj = rep.trajectories
    r = np.hypot(traj[..., 1] - cy, traj[..., 2] - cx)
    theta = np.arctan2(traj[..., 1] - cy, traj[..., 2] - cx)
    # points whose circle lies between the outermost grid points: the sampled field is exact there
    inner = r[0] < min(cy, cx) - grid.spacing[1]
    assert inner.sum() > 60
    assert np.allclose(r[:, inner], r[0, inner], atol=1e-6)  # on a circle
    turned = np.angle(np.exp(1j * (theta[:, inner] - theta[0, inner])))
    assert np.allclose(turned, np.arange(9)[:, None] * angle, atol=1e-6)  # by the same angle each frame: an arc
    # directions all round the wheel: the overall displacement is tangential
    from matplotlib.colors import rgb_to_hsv

    hues = rgb_to_hsv(F.direction_colours(traj[:, inner], still=0.5))[:, 0]
    assert np.histogram(hues, bins=6, range=(0, 1))[0].min() > 0
    # the table: |u| = 2 r sin(angle / 2) at every grid point
    p = _grid_positions(grid)
    mag = 2 * np.hypot(p[1] - cy, p[2] - cx) * np.sin(angle / 2)
    assert rep.frames[3]["mean_displacement"] == pytest.approx(mag.mean(), rel=1e-5)
    assert rep.frames[3]["max_displacement"] == pytest.approx(mag.max(), rel=1e-5)


def test_still_flow_is_grey_and_3d_seeds_lie_in_the_middle_slice():
    grid = Grid.of((9, 40, 50), (2.0, 1.0, 1.0), 4)
    assert grid.factors[0] == 2  # z is block-averaged here (2 × 2.0 µm against 4 × 1.0 µm in y/x)
    still = F.summarise([(np.zeros((4, 3, *grid.shape), np.float32), grid, 0)], (9, 40, 50))
    assert np.all(still.trajectories[:, :, 0] == 8.0)  # slice 4 of 0..8 at 2 µm
    assert np.allclose(F.direction_colours(still.trajectories, still=1.0), 0.6)  # grey: no direction
    assert F.summary(still)["median_net"] == 0 and F.summary(still)["left"] == 0
    assert F.flow_rows(still)[0] == ["0 → 1", "0.000", "0.000", "0.0"]
    # a drift in z moves the points out of the stack: their lines stop
    up = F.summarise([(_uniform(grid, 4, (3.5, 0, 0)), grid, 0)], (9, 40, 50))
    z = up.trajectories[:, :, 0]
    assert np.all(z[:4] == [[8.0], [11.5], [15.0], [18.5]])  # the step out of the stack (top slice 16 µm) is drawn
    assert np.isnan(z[4]).all()  # and none after it
    assert F.summary(up)["left"] == F.N_POINTS


def test_seeds_spread_over_the_view_and_are_fixed():
    a = F.seed_points((1, *SHAPE), VOXEL)
    assert np.array_equal(a, F.seed_points((1, *SHAPE), VOXEL)) and len(np.unique(a, axis=0)) == len(a)
    assert a[:, 1].min() >= 0 and a[:, 1].max() <= (SHAPE[0] - 1) * VOXEL[1]
    counts = np.histogram2d(a[:, 1], a[:, 2], bins=4)[0]
    assert counts.min() >= 8  # every sixteenth of the view has points (200 / 16 = 12.5 on average)


def test_chunks_must_follow_each_other(tmp_path):
    grid = _grid()
    with pytest.raises(InputError, match="gap"):
        F.summarise([(_uniform(grid, 3, (0, 1, 0)), grid, 0), (_uniform(grid, 2, (0, 1, 0)), grid, 4)], SHAPE)
    with pytest.raises(InputError, match=r"0000-0004\.h5 is missing.*flow\.enabled"):
        F.chunk_paths(tmp_path, 10, 5)
    for t0, n in ((0, 5), (5, 4)):
        write_flow_chunk(tmp_path / "flow" / f"{t0:04d}-{t0 + 4:04d}.h5", _uniform(grid, n, (0, 1, 0)), grid,
                         t0=t0, n_frames=10)
    rep = F.read_flow_report(tmp_path, 10, 5, SHAPE)
    assert len(rep.frames) == 9 and rep.trajectories.shape[0] == 10 and rep.voxel_size == VOXEL
    with pytest.raises(InputError, match="another movie"):
        F.read_flow_report(tmp_path, 10, 5, (100, 100))


def test_flow_figure_draws_one_coloured_line_per_point_and_is_deterministic():
    grid = _grid()
    rep = F.summarise([(_uniform(grid, 3, (0, 0.5, -1.0)), grid, 0)], SHAPE, n_points=40)
    background = np.random.default_rng(0).random(SHAPE)
    fig = F.flow_figure(rep, background, "toy")
    ax = fig.axes[0]
    lines = ax.collections[0]
    assert len(lines.get_segments()) == 40
    assert np.allclose(lines.get_colors()[:, :3], F.direction_colours(rep.trajectories, 0.5))
    first = lines.get_segments()[0]
    assert np.allclose(first[1] - first[0], [-2.0, 1.0])  # pixels (x, y): 1 µm left = 2 px, 0.5 µm down = 1 px
    assert f"{scale_bar_length(SHAPE[1] * VOXEL[2]):g} µm" in [t.get_text() for t in ax.texts]  # in µm
    assert [line.get_label() for line in fig.axes[1].lines] == ["mean", "largest"]
    png = save_png(fig)
    assert png == save_png(F.flow_figure(rep, background, "toy"))
    assert save_png(F.flow_figure(rep, None)) != png  # without a background image, still a figure
    html = F.flow_section({"toy": rep}, {"toy": png})
    assert html.count("<tr>") == 1 + 8 + 1 + 3  # summary header + rows, per-frame header + rows
    assert "<td>0 → 1</td><td>1.118</td><td>1.118</td><td>2.2</td>" in html
    assert base64.b64encode(png).decode() in html


# --- a real flow-enabled demo run ----------------------------------------------------------------------------------

DEMO = "demo={n_frames: 8, n_cells: 6, seed: 1}"


@pytest.fixture(scope="module")
def flow_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report_flow") / "out"
    snakemake("report", "--config", f"out={out}", DEMO, "frames_per_job=4", "flow={enabled: true}")
    return out


def _section(page, sid):
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


def test_report_of_a_flow_run_shows_the_figure_and_the_table(flow_report):
    page = (flow_report / "report" / "report.html").read_text()
    flow = _section(page, "flow")
    assert '<a href="#flow">Flow fields</a>' in page
    assert page.index('id="tracks"') < page.index('id="flow"') < page.index('id="history"')
    png = (flow_report / "report" / "flow_out.png").read_bytes()
    assert png[:4] == b"\x89PNG" and base64.b64encode(png).decode() in flow
    assert len(re.findall(r'src="data:image/png', page)) == 5  # the 4 of every report, and the flow figure
    # the table holds every frame pair's magnitudes, as the flow files give them
    frames = []
    for chunk in ("0000-0003", "0004-0007"):
        fields, _, t0 = read_flow_chunk(flow_report / "flow" / f"{chunk}.h5")
        frames += magnitude_summary(fields, t0)
    assert len(frames) == 7
    for f in frames:
        t = f["frame"]
        assert (f"<td>{t} → {t + 1}</td><td>{f['mean_displacement']:.3f}</td>"
                f"<td>{f['max_displacement']:.3f}</td>") in flow
    assert "<td>frame pairs</td><td>7</td>" in flow
    assert not [h for h in re.findall(r"<th>(.*?)</th>", flow) if "_" in h]  # headers in words


def test_report_of_a_flow_run_opens_in_headless_chromium(flow_report, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        skip_or_fail("chromium not installed (Debian: apt-get install chromium)")
    shot = tmp_path / "flow.png"
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000",
                           f"--screenshot={shot}", (flow_report / "report" / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not [line for line in proc.stderr.splitlines() if re.search(r"CONSOLE[:(]|Uncaught", line)]
    assert shot.stat().st_size > 20_000


def test_movies_table_plans_the_flow_figure_of_its_flow_movies_only(tmp_path):
    from lineageflow.synthetic import SyntheticConfig, generate

    for seq, seed in (("01", 1), ("02", 2)):
        generate(tmp_path / "d2", SyntheticConfig(ndim=2, n_frames=4, n_cells=3, seed=seed), sequence=seq)
    table = tmp_path / "movies.tsv"
    table.write_text(f"name\tinput\tflow.enabled\nplain\t{tmp_path}/d2/01\tfalse\nmoving\t{tmp_path}/d2/02\ttrue\n")
    proc = snakemake("-n", "report", "--config", f"movies={table}", f"out={tmp_path / 'res'}")
    job = re.search(r"rule report_render:\n\s+input: .*\n\s+output: (.*)\n", proc.text).group(1)
    assert f"{tmp_path}/res/report/flow_moving.png" in job and "flow_plain" not in job
    assert "movie_moving_flow_estimate" in proc.text and "movie_plain_flow_estimate" not in proc.text

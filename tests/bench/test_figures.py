"""The report's figures (issue #13), asserted on their data, not their pixels: the panels
of the curves figure, the median line and its band, and one style per method across the
curves, detail and profile figures."""

import numpy as np
import pytest

from autolr.bench import ResultsStore
from autolr.bench.analysis import analyse
from autolr.bench.figures import (
    COLUMNS,
    curves_figure,
    detail_figure,
    overlay_rows,
    profiles_figure,
    seed_band,
)
from autolr.bench.styles import MARKERS, PALETTE, report_styles, style_map
from autolr.bench.tables import R_MAX, TRACKS
from autolr.bench.views import profiles
from autolr.running.plots import smooth
from tests.bench.handmade import FINALS, SEEDS, fill, loss_curve, lr_curve

DPI = 120  # autolr.running.plots.save


@pytest.fixture
def rep(tmp_path):
    s = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    fill(s)
    (r,) = analyse(s, "s")
    s.close()
    return r


def lines_of(ax):
    """``{label: Line2D}`` of an axes' median lines (the target line left out)."""
    return {line.get_label(): line for line in ax.get_lines() if line.get_label() != "target"}


def look(line):
    return line.get_color(), line.get_linestyle(), line.get_marker()


def test_curves_figure_has_three_panels_over_charged_steps(rep):
    fig = curves_figure(rep, report_styles([rep]), TRACKS)
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == [
        "learning rate",
        "train loss (smoothed)",
        "validation accuracy",
    ]
    assert {ax.get_xlabel() for ax in axes} == {"charged steps"}
    assert axes[0].get_yscale() == "log" and axes[2].get_yscale() == "linear"
    # the best tuned baseline, the default, the peers and the controllers; not cosine-warmup
    # (another tuned baseline) nor the replay, which are in the detail figure
    overlaid = ["constant", "constant-default", "lr_finder", "prodigy", "schedule-free-adamw"]
    overlaid += ["hypergradient", "plateau"]
    assert [r.method for r in overlay_rows(rep)] == overlaid
    for ax in axes:
        assert list(lines_of(ax)) == overlaid
    target = [line for line in axes[2].get_lines() if line.get_label() == "target"]
    assert len(target) == 1 and target[0].get_ydata()[0] == rep.target
    width, height = fig.get_size_inches() * DPI
    assert width <= 1600 and height <= 600
    # the legend names each method's kind, and the target
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[:2] == ["constant (best tuned)", "constant-default (untuned default)"]
    assert "plateau (self-tuning)" in texts and texts[-1] == "target accuracy 0.84"


def test_two_panels_when_the_runs_were_not_evaluated(rep):
    for row in rep.rows.values():
        for c in row.curves:
            c["eval_charged"], c["eval_metric"] = np.array([]), np.array([])
    fig = curves_figure(rep, report_styles([rep]), TRACKS)
    assert [ax.get_ylabel() for ax in fig.axes] == ["learning rate", "train loss (smoothed)"]


def test_the_median_line_is_the_median_of_the_seeds(rep):
    lr_ax, loss_ax, val_ax = curves_figure(rep, report_styles([rep]), TRACKS).axes
    for method in ("plateau", "constant-default"):
        lr = np.median([lr_curve(method, s) for s in SEEDS], axis=0)
        np.testing.assert_allclose(lines_of(lr_ax)[method].get_ydata(), lr)
        np.testing.assert_allclose(lines_of(lr_ax)[method].get_xdata(), np.arange(1, 101))
        losses = [loss_curve(method, s) for s in SEEDS]
        loss = np.median([smooth(x, x.size // 50) for x in losses], axis=0)
        np.testing.assert_allclose(lines_of(loss_ax)[method].get_ydata(), loss)
        finals = FINALS[(method, "self" if method == "plateau" else "default")]
        evals = np.median([[0.1, 0.5 * (0.1 + f), f] for f in finals], axis=0)
        np.testing.assert_allclose(lines_of(val_ax)[method].get_ydata(), evals)
        np.testing.assert_allclose(lines_of(val_ax)[method].get_xdata(), [0, 50, 100])


def test_seed_band_puts_seeds_with_different_charged_steps_on_one_grid():
    # seed 2 spent steps 5..15 on a probe: its points sit at other charged steps
    a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 1.0, 2.0]))
    b = (np.array([0.0, 5.0, 20.0, 30.0]), np.array([0.0, 1.0, 4.0, 9.0]))
    band = seed_band([a, b])
    np.testing.assert_array_equal(band.x, [0, 5, 10, 20])  # only where both seeds ran
    # a at 5: 0.5; b at 10: 1 + 3 · 5/15 = 2
    np.testing.assert_allclose(band.lo, [0, 0.5, 1, 2])
    np.testing.assert_allclose(band.hi, [0, 1, 2, 4])
    np.testing.assert_allclose(band.median, [0, 0.75, 1.5, 3])
    # a non-finite value is left out of the median and the band at its x
    c = (np.array([0.0, 10.0, 20.0]), np.array([np.nan, 3.0, 6.0]))
    band = seed_band([a, a, c])
    assert band.median[0] == 0.0 and band.hi[0] == 0.0 and band.median[-1] == 2.0
    assert seed_band([]) is None and seed_band([(np.array([]), np.array([]))]) is None


def test_a_method_looks_the_same_in_every_figure_and_unlike_any_other(rep):
    styles = report_styles([rep])
    curves = curves_figure(rep, styles, TRACKS)
    detail = detail_figure(rep, styles)
    prof = profiles_figure(profiles([rep]), styles, R_MAX)
    seen: dict[str, set] = {}
    for fig in (curves, detail, prof):
        for ax in fig.axes:
            for method, line in lines_of(ax).items():
                seen.setdefault(method, set()).add(look(line))
    assert set(seen) == {m for m, _ in FINALS}  # the detail figure has every method
    assert all(len(looks) == 1 for looks in seen.values()), seen
    looks = [next(iter(v)) for v in seen.values()]
    assert len(set(looks)) == len(looks)  # no two methods share colour, style and marker
    assert len({color for color, _, _ in looks}) == len(looks)  # nor, here, a colour
    # the line style says the kind of method
    linestyle = {m: next(iter(v))[1] for m, v in seen.items()}
    assert linestyle["constant"] == linestyle["cosine-warmup"] == "--"
    assert linestyle["constant-default"] == ":" and linestyle["prodigy"] == "-."
    assert linestyle["plateau"] == linestyle["hypergradient"] == "-"


def test_detail_figure_wraps_methods_into_rows(rep):
    fig = detail_figure(rep, report_styles([rep]))
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 2 * len(rep.rows)  # an LR panel over a loss panel per method
    assert [ax.get_title() for ax in shown if ax.get_title()] == [
        "constant", "cosine-warmup", "constant-default", "lr_finder",
        "prodigy", "schedule-free-adamw", "hypergradient", "plateau",
        "plateau-replay",
    ]  # fmt: skip
    width, _ = fig.get_size_inches() * DPI
    assert width <= 1600 and fig.axes[0].get_gridspec().ncols == COLUMNS


def test_style_map_is_fixed_by_the_set_of_methods_and_cycles_past_the_palette():
    tracks = {f"m{i:02d}": ("self", "eval", "peer", "default")[i % 4] for i in range(40)}
    styles = style_map(tracks)
    assert style_map(dict(reversed(tracks.items()))) == styles
    looks = [(s.color, s.linestyle, s.marker) for s in styles.values()]
    assert len(set(looks)) == 40 and {s.color for s in styles.values()} == set(PALETTE)
    assert {s.marker for s in styles.values()} == set(MARKERS)
    # controllers get the first colours: the methods every curves figure shows
    assert styles["m00"].color == PALETTE[0] and styles["m00"].linestyle == "-"


def test_a_wide_band_does_not_flatten_the_panel(rep):
    """One seed that blows up to 100x makes a wide band; the panel's y range follows the
    median lines, so the other curves stay readable."""
    row = rep.rows["plateau"]
    wild = dict(row.curves[0])
    wild["eval_metric"] = np.asarray(wild["eval_metric"], float) * 100.0
    row.curves[0] = wild
    fig = curves_figure(rep, report_styles([rep]), TRACKS)
    ax = fig.axes[2]
    ys = np.concatenate([np.asarray(line.get_ydata(), float) for line in lines_of(ax).values()])
    lo, hi = ax.get_ylim()
    assert hi <= ys[np.isfinite(ys)].max() * 1.1 + 1e-9  # not stretched to the band's 100x
    assert lo <= ys[np.isfinite(ys)].min()

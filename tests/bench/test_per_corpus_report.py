"""The report's per-corpus section, for tasks whose runs record ``per_corpus`` (continual-lm):
its table (finals per corpus, forgetting of earlier corpora), its figure (one panel per
corpus), and no such section for other tasks."""

import pytest

from autolr.bench import ResultsStore
from autolr.bench.analysis import analyse
from autolr.bench.figures import per_corpus_figure
from autolr.bench.report import terminal_tables, write_report
from autolr.bench.styles import report_styles
from autolr.bench.tables import per_corpus_table
from tests.bench.handmade import SEEDS, fill, put

CORPORA = ["py", "docs"]
# per method: each seed's (final test bits per byte on py, on docs, forgetting of py)
RUNS = {
    ("cosine-stream", "eval"): [(2.9, 2.1, 0.5), (3.0, 2.2, 0.6), (3.1, 2.0, 0.7)],
    ("plateau", "self"): [(2.5, 2.4, 0.1), (2.6, 2.5, 0.2), (2.7, 2.3, 0.3)],
}


def per_corpus(py: float, docs: float, forget: float) -> dict:
    val_py = [8.0, 2.5, 2.5 + forget]
    return {
        "corpora": CORPORA,
        "metric": "bits_per_byte",
        "phases": [
            {"corpus": "py", "start": 0, "end": 50},
            {"corpus": "docs", "start": 50, "end": 100},
        ],
        "eval_step": [0, 50, 100],
        "val": {"py": val_py, "docs": [8.0, 3.0, docs]},
        "final_val": {"py": val_py[-1], "docs": docs},
        "best_val": {"py": 2.5, "docs": docs},
        "final_test": {"py": py, "docs": docs},
        "forgetting": {"py": forget},
    }


@pytest.fixture
def store(tmp_path):
    s = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    fill(s)  # task "t": no per-corpus numbers
    for peak in (0.1, 0.2):
        put(s, "c", "cosine-stream", "tune", 100, 2.0 + peak, peak=peak)
    for (method, track), seeds in RUNS.items():
        for seed, (py, docs, forget) in zip(SEEDS, seeds, strict=True):
            pc = per_corpus(py, docs, forget)
            peak = 0.1 if track == "eval" else None
            put(s, "c", method, track, seed, (py + docs) / 2, peak=peak, per_corpus=pc)
    yield s
    s.close()


def test_the_table_has_each_corpus_final_and_the_forgetting_of_the_earlier_one(store):
    reps = {r.task: r for r in analyse(store, "s")}
    assert per_corpus_table(reps["t"]) == ([], [])
    head, rows = per_corpus_table(reps["c"])
    assert head == ["method", "track", "py (test)", "docs (test)", "forgetting py"]
    by = {r[0]: r for r in rows}
    assert list(by) == ["cosine-stream", "plateau"]  # tuned first, then controllers
    assert by["cosine-stream"][2].startswith("3 ± ")  # mean of 2.9, 3.0, 3.1
    half = float(by["cosine-stream"][4].split(" ± ")[1])
    assert by["cosine-stream"][4].startswith("0.6 ± ") and half == pytest.approx(0.25, abs=0.01)
    assert by["plateau"][3].startswith("2.4 ± ") and by["plateau"][1] == "self-tuning"


def test_the_figure_has_a_panel_per_corpus_with_every_method(store):
    reps = {r.task: r for r in analyse(store, "s")}
    styles = report_styles(reps.values())
    assert per_corpus_figure(reps["t"], styles) is None
    fig = per_corpus_figure(reps["c"], styles)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == CORPORA
    py = {
        line.get_label(): line
        for line in axes[0].get_lines()
        if not line.get_label().startswith("_")
    }
    assert sorted(py) == ["cosine-stream", "plateau"]
    x, y = py["cosine-stream"].get_data()
    assert list(x) == [0, 50, 100] and y[-1] == pytest.approx(2.5 + 0.6)  # median forgetting
    switches = [line for line in axes[0].get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in switches] == [50]


def test_the_report_and_the_terminal_show_the_section_for_that_task_only(store, tmp_path):
    path = write_report(store, "s", tmp_path)
    text = path.read_text()
    assert text.count(": per corpus") == 1 and "### c: per corpus" in text
    assert (tmp_path / "corpora_c.png").is_file() and not (tmp_path / "corpora_t.png").exists()
    titles = [t for t, _, _ in terminal_tables(analyse(store, "s"))]
    assert (
        titles.index("c: per corpus (forgetting: final − best)")
        == titles.index(next(t for t in titles if t.startswith("c: target"))) + 1
    )
    assert not any(t.startswith("t: per corpus") for t in titles)

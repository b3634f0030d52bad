"""continual-lm: the stream switches corpora at the budget's fractions, batches stay a
function of (seed, i, budget), each corpus is held out by document, and the per-corpus
evaluations reach the history, metrics.csv and the summary (with forgetting)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from autolr.controllers import Fixed
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from autolr.loop.trainee import make_task
from autolr.running.runner import run
from tasks import continual, corpora

SMALL = {
    "name": "continual-lm",
    "width": 16,
    "depth": 1,
    "heads": 2,
    "seq_len": 16,
    "batch_size": 4,
    "corpus_bytes": 200_000,
}


def build(seed: int = 0, **params):
    return make_task({**SMALL, **params}, seed=seed)


def source(trainee, batch) -> set[str]:
    """The corpora whose training bytes hold every window of ``batch``."""
    x, y = batch
    windows = [
        bytes(np.concatenate([xi.numpy(), yi[-1:].numpy()]).astype(np.uint8))
        for xi, yi in zip(x, y, strict=True)
    ]
    found = set()
    for c in trainee.distinct:
        train = trainee.splits[c].train[0].tobytes()
        if all(w in train for w in windows):
            found.add(c)
    return found


def test_the_stream_switches_corpus_at_the_fractions_of_the_budget():
    trainee = build()
    assert trainee.starts == [1500]  # the task's budget until a session says otherwise
    trainee.set_budget(40)
    assert trainee.starts == [20]
    assert [trainee.stream.phase(i) for i in (0, 19, 20, 39)] == [0, 0, 1, 1]
    assert source(trainee, trainee.batch(19)) == {"stdlib-py"}
    assert source(trainee, trainee.batch(20)) == {"stdlib-docs"}
    assert trainee.phases() == [
        {"corpus": "stdlib-py", "start": 0, "end": 20},
        {"corpus": "stdlib-docs", "start": 20, "end": 40},
    ]
    # a session tells the trainee its budget before the first batch
    Session(trainee, Fixed(Segment.constant(1e-3, 10).schedule), 60, 10, eval_every=0)
    assert trainee.starts == [30]


def test_a_corpus_may_come_back_and_switches_round_like_frac_keys():
    trainee = build(corpora=["stdlib-py", "stdlib-docs", "stdlib-py"], switch_at=[0.25, 0.75])
    trainee.set_budget(30)
    assert trainee.starts == [round(0.25 * 30), round(0.75 * 30)] == [8, 22]
    assert [trainee.stream.phase(i) for i in (7, 8, 21, 22, 29)] == [0, 1, 1, 2, 2]
    assert source(trainee, trainee.batch(25)) == {"stdlib-py"}
    assert trainee.distinct == ["stdlib-py", "stdlib-docs"]  # scored once each


def test_batches_depend_on_seed_index_and_budget_only():
    a, b, c = build(), build(), build(seed=1)
    for t in (a, b, c):
        t.set_budget(10)
    steps = [9, 0, 4, 5, 7]
    first = {i: a.batch(i) for i in steps}
    for i in reversed(steps):  # another order, another trainee: the same batches
        assert all(np.array_equal(u, v) for u, v in zip(first[i], b.batch(i), strict=True))
        assert not np.array_equal(first[i][0], c.batch(i)[0])
    a.set_budget(20)  # batch 5 moves back into the first phase
    assert source(a, a.batch(5)) == {"stdlib-py"} and source(b, b.batch(5)) == {"stdlib-docs"}


def test_docs_passages_join_back_into_their_topic():
    text = "a\n\nbb\n\n" + "c" * 9 + "\n\nd\n"
    parts = corpora.passages(text, limit=8)
    assert "".join(parts) == text
    assert parts == ["a\n\nbb\n\n", "c" * 9 + "\n\n", "d\n"]  # a long paragraph stands alone


def test_docs_are_held_out_by_passage(monkeypatch):
    import pydoc_data.topics

    # 40 topics of 3 paragraphs each, every paragraph a distinct line
    topics = {
        f"t{k:02d}": "".join(f"topic {k:02d} para {j}\n\n" for j in range(3)) for k in range(40)
    }
    monkeypatch.setattr(pydoc_data.topics, "topics", topics)
    splits = corpora.stdlib_docs_corpus.__wrapped__(0)
    parts = [
        set(p[0].tobytes().decode().split("\n\n")) - {""}
        for p in (splits.train, splits.val, splits.test)
    ]
    assert sum(map(len, parts)) == 120 and set().union(*parts) == {
        f"topic {k:02d} para {j}" for k in range(40) for j in range(3)
    }
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    # 3 paragraphs of 20 characters: one passage per topic, 4 of 40 validate, 4 test
    assert [len(p) for p in parts] == [96, 12, 12]
    assert corpora.stdlib_docs_corpus.__wrapped__(1).val[0].tobytes() != splits.val[0].tobytes()


def test_stdlib_py_leaves_out_the_docs_package(tmp_path, monkeypatch):
    for k in range(30):
        (tmp_path / f"m{k:02d}.py").write_text(f"# module {k:02d}\n" * 100)
    (tmp_path / "pydoc_data").mkdir()
    (tmp_path / "pydoc_data" / "topics.py").write_text("# the docs text\n" * 100)
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "pydoc_data.py").write_text("# not the package\n" * 100)
    monkeypatch.setattr(corpora.sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    every = corpora.stdlib_corpus.__wrapped__(0, 10**6)
    without = corpora.stdlib_corpus.__wrapped__(0, 10**6, ("pydoc_data",))

    def text(s):
        return b"".join(p[0].tobytes() for p in (s.train, s.val, s.test)).decode()

    assert "docs text" in text(every) and "docs text" not in text(without)
    assert "not the package" in text(without)


def test_each_corpus_has_its_own_held_out_windows():
    trainee = build()
    for c in trainee.distinct:
        for split in ("val", "test"):
            part = getattr(trainee.splits[c], split)[0].tobytes()
            windows = trainee.windows[c][split].numpy().astype(np.uint8)
            assert all(bytes(w) in part for w in windows), (c, split)
    sizes = trainee.split_sizes()
    assert sizes.val == 2 * 128 * 16 and sizes.unit == "bytes"


def test_evaluate_is_the_mean_over_corpora_and_extra_metrics_each():
    trainee = build()
    assert trainee.extra_metrics() == {}
    nats, bits = trainee.evaluate("val")
    extra = trainee.extra_metrics()
    assert sorted(extra) == ["val_bits_per_byte/stdlib-docs", "val_bits_per_byte/stdlib-py"]
    assert bits == pytest.approx(sum(extra.values()) / 2, rel=1e-12)
    assert nats == pytest.approx(bits * math.log(2), rel=1e-12)
    trainee.evaluate("test")
    assert trainee.extra_metrics() == extra  # still validation's


def test_forgetting_is_final_minus_best():
    assert continual.forgetting([3.0, 2.0, 2.5]) == pytest.approx(0.5)
    assert continual.forgetting([3.0, 2.0, 1.5]) == 0.0
    assert continual.forgetting([math.nan, 2.0, 2.2]) == pytest.approx(0.2)
    assert math.isnan(continual.forgetting([3.0, 2.0, math.nan]))


def test_a_run_records_each_corpus_and_the_forgetting_of_the_first(tmp_path):
    config = {
        "task": dict(SMALL),
        "controller": {"name": "fixed", "schedule": {"name": "constant", "lr": 0.01}},
        "budget_steps": 20,
        "eval_every": 5,
        "interval": 5,
    }
    result = run(config, out=tmp_path)
    extras = result.history.extras
    py, docs = extras["val_bits_per_byte/stdlib-py"], extras["val_bits_per_byte/stdlib-docs"]
    assert result.history.evals["step"] == [0, 5, 10, 15, 20]
    assert result.history.eval_array("val_metric") == pytest.approx((np.array(py) + docs) / 2)
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    at = {int(r["step"]): r for r in rows}
    assert float(at[10]["val_bits_per_byte/stdlib-py"]) == py[2]
    assert at[11]["val_bits_per_byte/stdlib-py"] == ""
    summary = json.loads((tmp_path / "summary.json").read_text())
    pc = summary["per_corpus"]
    assert pc["eval_step"] == [0, 5, 10, 15, 20]
    assert [p["start"] for p in pc["phases"]] == [0, 10]
    assert pc["val"]["stdlib-py"] == py and pc["final_val"]["stdlib-docs"] == docs[-1]
    assert pc["best_val"]["stdlib-py"] == min(py)
    assert list(pc["forgetting"]) == ["stdlib-py"]  # the corpus trained at the end has none
    assert pc["forgetting"]["stdlib-py"] == pytest.approx(py[-1] - min(py))
    assert sorted(pc["final_test"]) == ["stdlib-docs", "stdlib-py"]
    assert summary["final_test_metric"] == pytest.approx(sum(pc["final_test"].values()) / 2)


def test_a_run_that_never_switches_forgets_nothing():
    trainee = build()
    session = Session(trainee, Fixed(Segment.constant(1e-2, 5).schedule), 10, 5, eval_every=5)
    trainee.set_budget(100)  # the switch at 50, past the run's 10 steps (as in a replay)
    session.run()
    pc = trainee.summary_extras(session.history)["per_corpus"]
    assert pc["forgetting"] == {} and len(pc["val"]["stdlib-docs"]) == 3


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"corpora": ["stdlib-doc"]}, ["corpora", "stdlib-doc", "stdlib-docs"]),
        ({"corpora": "stdlib-py"}, ["corpora", "list"]),
        ({"switch_at": [0.3, 0.6]}, ["switch_at", "one fraction per switch"]),
        ({"switch_at": [1.5]}, ["switch_at", "1.5"]),
        (
            {"corpora": ["stdlib-py", "stdlib-docs", "stdlib-py"], "switch_at": [0.6, 0.4]},
            ["switch_at", "increasing"],
        ),
        ({"corpora": ["stdlib-py", "text"]}, ["path"]),
    ],
)
def test_bad_corpora_and_switches_are_named(params, words):
    with pytest.raises(ValueError) as err:
        make_task({"name": "continual-lm", **params}, seed=0)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_text_file_is_a_corpus(data_dir):
    trainee = build(corpora=["stdlib-docs", "text"], path=str(data_dir / "text.txt"))
    trainee.set_budget(10)
    assert source(trainee, trainee.batch(7)) == {"text"}
    trainee.evaluate()
    assert sorted(trainee.extra_metrics()) == [
        "val_bits_per_byte/stdlib-docs",
        "val_bits_per_byte/text",
    ]

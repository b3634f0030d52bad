"""``autolr list`` and the help of the bench verbs (issue #11, low items)."""

from pathlib import Path

from autolr.bench.readme import readme_block, report_table
from autolr.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_every_bench_and_report_argument_has_help():
    from autolr.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    for verb in ("bench", "report", "list"):
        for action in sub.choices[verb]._actions:
            assert action.help, f"autolr {verb} {action.option_strings or action.dest}"


def test_autolr_list_prints_each_registry(capsys):
    expected = {
        "tasks": ["digits-cnn", "nqm", "stdlib-lm"],
        "controllers": ["fixed", "plateau", "hypergradient"],
        "schedules": ["constant", "cosine", "wsd"],
        "optimizers": ["adam", "adamw", "sgd"],
        "executors": ["local", "pool", "ray"],
        "populations": ["pbt", "pb2"],
    }
    for what, names in expected.items():
        assert main(["list", what]) == 0
        lines = capsys.readouterr().out.splitlines()
        listed = {line.split()[0]: line for line in lines}
        for name in names:
            assert name in listed, (what, name)
            assert len(listed[name].split(maxsplit=1)) == 2, listed[name]  # with a description
    assert main(["list", "optimizers"]) == 0
    assert "accepted by" in capsys.readouterr().out


def test_the_readme_quickstart_table_is_the_committed_reports():
    # committed files only: README.md's marked block and the quickstart report
    readme = (ROOT / "README.md").read_text()
    report = (ROOT / "docs/results/quickstart/report.md").read_text()
    table = report_table(report)
    assert table.startswith("| method | track | seeds | final accuracy")
    assert readme_block(readme) == table


def test_the_readme_script_rewrites_a_stale_block(tmp_path):
    from autolr.bench.readme import main as sync

    report = ROOT / "docs/results/quickstart/report.md"
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- quickstart-table -->\n| old |\n<!-- quickstart-table -->\nend\n")
    args = ["--readme", str(readme), "--report", str(report)]
    assert sync([*args, "--check"]) == 1
    assert sync(args) == 0
    assert sync([*args, "--check"]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("end\n") and "| old |" not in text

import ast
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "first, second",
    [
        ("autolr.bench.harness", "autolr.bench.report"),
        ("autolr.bench.report", "autolr.bench.harness"),
        ("autolr.bench.analysis", "autolr.bench.tuning"),
    ],
)
def test_bench_modules_import_in_either_order(first, second):
    # a fresh interpreter: an import cycle shows only when nothing is cached yet
    code = f"import {first}; import {second}; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_report_side_does_not_import_the_harness():
    # analysis, tuning and rendering sit below the harness: the dependency points one way
    # (read from the source: the package's __init__ imports everything at run time)
    import autolr.bench

    root = Path(autolr.bench.__file__).parent
    for name in ("analysis", "report", "figures", "tuning", "stats", "store", "targets", "views"):
        tree = ast.parse((root / f"{name}.py").read_text())
        imported = {
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert "autolr.bench.harness" not in imported, name

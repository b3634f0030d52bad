"""Each integration page's Python snippet (docs/integrations/*.md) runs as written, in a
fresh process in an empty folder, and prints what the page says it does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integrations import need

PAGES = Path(__file__).resolve().parents[2] / "docs" / "integrations"
NEEDS = {"lightning": "lightning", "transformers": "transformers", "tensorboard": "tensorboard"}


def snippets(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (PAGES / f"{page}.md").read_text(), re.S)


def run_snippet(code: str, folder: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_every_integration_has_a_page_with_one_snippet():
    assert sorted(p.stem for p in PAGES.glob("*.md")) == sorted(NEEDS)
    for page in NEEDS:
        assert len(snippets(page)) == 1, page


@pytest.mark.slow
def test_the_lightning_page_runs_auto_and_charges_its_probes(tmp_path):
    need("lightning")
    (last,) = run_snippet(snippets("lightning")[0], tmp_path)[-1:]
    found = re.fullmatch(r"charged (\d+), kept (\d+), peak lr (\S+)", last)
    assert found, last
    charged, kept, peak = int(found[1]), int(found[2]), float(found[3])
    assert charged == 300 and 0 < kept < charged and peak > 0


@pytest.mark.slow
def test_the_transformers_page_runs_plateau_for_its_budget(tmp_path):
    need("transformers")
    need("accelerate")
    (last,) = run_snippet(snippets("transformers")[0], tmp_path)[-1:]
    found = re.fullmatch(r"charged (\d+), last lr (\S+)", last)
    assert found, last
    assert int(found[1]) == 200 and 0 < float(found[2]) <= 0.1


@pytest.mark.slow
def test_the_tensorboard_page_writes_events(tmp_path):
    need("tensorboard")
    (last,) = run_snippet(snippets("tensorboard")[0], tmp_path)[-1:]
    assert 0 < float(last) < 1  # the NQM's final validation loss, trained down
    assert list((tmp_path / "runs/tb/nqm-plateau").glob("events.out.tfevents.*"))

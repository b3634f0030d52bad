"""``python -m tests.killpoint run ...``: the ``autolr`` CLI, stalled at a chosen point so that a
test can kill the process exactly there.

``$AUTOLR_TEST_STALL`` picks the point: ``checkpoint`` (default: right after the first mid-run
checkpoint) or ``plot`` (while lr.png is being written, its temporary file open). The process
writes what it knows (the kept step, or the temporary file's path) to
``$AUTOLR_TEST_KILLPOINT`` and sleeps; the test waits for that file and sends the signal.
Polling for ``checkpoint.pt`` instead would race a fast run to its end.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from autolr.running import io, plots, runner

_save_checkpoint = runner.save_checkpoint


def _stall(note: object) -> None:
    Path(os.environ["AUTOLR_TEST_KILLPOINT"]).write_text(str(note))
    time.sleep(300)  # the test kills us long before this ends


def _checkpoint_then_stall(session: Any, path: Path, resolved: dict[str, Any]) -> None:
    _save_checkpoint(session, path, resolved)
    if not session.done:
        _stall(session.step)


def _stall_in_plot(fig: Any, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        _stall(tmp)


if os.environ.get("AUTOLR_TEST_STALL", "checkpoint") == "plot":
    plots.save = _stall_in_plot
else:
    runner.save_checkpoint = _checkpoint_then_stall

if __name__ == "__main__":
    from autolr.cli import main

    sys.exit(main(sys.argv[1:]))

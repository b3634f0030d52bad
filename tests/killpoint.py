"""``python -m tests.killpoint run ...``: the ``autolr`` CLI, stalled after its first mid-run
checkpoint so that a test can SIGKILL the process exactly there.

It writes the kept step of that checkpoint to ``$AUTOLR_TEST_KILLPOINT`` and then sleeps; the
test waits for that file and kills the process. Polling for ``checkpoint.pt`` instead would
race a fast run to its end.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from autolr.running import runner

_save = runner.save_checkpoint


def _save_then_stall(session: Any, path: Path, resolved: dict[str, Any]) -> None:
    _save(session, path, resolved)
    if not session.done:
        Path(os.environ["AUTOLR_TEST_KILLPOINT"]).write_text(str(session.step))
        time.sleep(300)  # the test kills us long before this ends


runner.save_checkpoint = _save_then_stall

if __name__ == "__main__":
    from autolr.cli import main

    sys.exit(main(sys.argv[1:]))

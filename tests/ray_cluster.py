"""A small local Ray for the tests of the ``ray`` executor (issue #17 §1).

``local_ray`` starts one in this process (2 CPUs, no dashboard, its session folder and logs
in a temporary folder) and stops it; the tests share one per module, since a start takes
seconds. Its workers start in this process's working directory, so they import ``tests.toy``
(``$AUTOLR_PLUGINS``) as the pool's workers do. Without Ray the tests are skipped with the
extra to install; under CI (``CI=true``) they fail instead, as the PostgreSQL tests do.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.postgres import unavailable

CPUS = 2


def import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        unavailable(f"Ray is not installed ({err}): pip install -e '.[test]' (or '.[ray]')")
    return ray


@contextmanager
def local_ray() -> Iterator[str]:
    """A local Ray that this process is connected to; yields its address (``HOST:PORT``),
    which another process joins with ``--ray-address``."""
    ray = import_ray()
    # a short path: Ray's Unix sockets live under it, and their paths have a length limit
    root = tempfile.mkdtemp(prefix="autolr-ray-")
    ray.init(
        address="local",
        num_cpus=CPUS,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        _temp_dir=root,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)

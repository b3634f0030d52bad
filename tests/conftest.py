import os

import pytest
import torch

from tests.toy import ToyTrainee

# Tiny models run fastest on one thread, and one thread is immune to the oversubscription
# that makes torch's thread pool crawl when another process shares the cores.
torch.set_num_threads(1)

# worker processes (autolr bench --workers, autolr tune) find the toy task through this
os.environ.setdefault("AUTOLR_PLUGINS", "tests.toy")


@pytest.fixture
def toy() -> ToyTrainee:
    return ToyTrainee(seed=0)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the session (``tests/postgres.py``): skipped when
    Debian's postgresql package is missing, failed instead under CI."""
    from tests.postgres import start_server

    server = start_server()
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL (with its password) of a fresh, empty database on that server."""
    if not postgres_server.running():  # a test that stopped it failed before restarting
        postgres_server.start()
    return postgres_server.url(postgres_server.create_database())

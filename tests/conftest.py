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

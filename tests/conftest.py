import os

import pytest

from tests.toy import ToyTrainee

# worker processes (autolr bench --workers, autolr tune) find the toy task through this
os.environ.setdefault("AUTOLR_PLUGINS", "tests.toy")


@pytest.fixture
def toy() -> ToyTrainee:
    return ToyTrainee(seed=0)

import pytest

from autolr.trainee import TASKS
from tests.toy import ToyTrainee, make_toy

if "toy" not in TASKS:
    TASKS.add("toy", make_toy)


@pytest.fixture
def toy() -> ToyTrainee:
    return ToyTrainee(seed=0)

import pytest

from tests.toy import ToyTrainee


@pytest.fixture
def toy() -> ToyTrainee:
    return ToyTrainee(seed=0)

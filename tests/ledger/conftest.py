"""Characters for the apply_event tests: a hero of world alpha, a foreigner of beta.

The modules using them mark themselves ``usefixtures("synced")``.
"""

import pytest

from tests.factories import CharacterFactory


@pytest.fixture
def hero():
    return CharacterFactory(scores={"wealth": 0.4})


@pytest.fixture
def foreigner():
    return CharacterFactory(world_id="beta")

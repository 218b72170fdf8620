"""factory_boy factories. Characters are made through ``create_character`` so that every
score a test sees was written by the ledger, as in production."""

import factory
from django.contrib.auth import get_user_model

from worlds.models import Character
from worlds.services import create_character


class CharacterFactory(factory.Factory):
    class Meta:
        model = Character

    world_id = "alpha"
    name = factory.Sequence(lambda n: f"character-{n}")
    scores = None

    @classmethod
    def _create(cls, model_class, *, world_id, name, scores):
        return create_character(world_id=world_id, name=name, scores=scores)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user-{n}")
    is_staff = False

"""factory_boy factories. Characters are made through ``create_character`` so that every
score a test sees was written by the ledger, as in production."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

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
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    is_staff = False

    @factory.post_generation
    def permissions(self, create, names, **kwargs):
        """Grant ``permissions=["ledger.view_event", ...]`` (``app_label.codename``).

        Granted to the user directly rather than through the roles' groups: a
        transactional test's flush removes the groups the roles migration made.
        """
        if create and names:
            self.user_permissions.set(
                [
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                    for app_label, codename in (name.split(".") for name in names)
                ]
            )

"""World limits: unlimited until a membership applies, then exactly its worlds."""

import re

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from access.models import WORLD_MEMBERSHIP_USER_XOR_GROUP, WorldMembership
from access.selectors import allowed_world_ids, may_use_world
from tests.access.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(synced):
    return make_user(username="mira", is_staff=True)


@pytest.fixture
def crew(user):
    group = Group.objects.create(name="crew")
    user.groups.add(group)
    return group


def fresh(user):
    """The user as a new request loads it: nothing cached on the object."""
    return type(user).objects.get(pk=user.pk)


def test_a_user_no_membership_applies_to_is_not_limited(user, crew):
    other = make_user(username="other")
    WorldMembership.objects.create(world_id="alpha", user=other)
    WorldMembership.objects.create(world_id="alpha", group=Group.objects.create(name="others"))

    assert allowed_world_ids(user) is None
    assert may_use_world(user, world_id="alpha")
    assert may_use_world(user, world_id="beta")


def test_a_membership_of_the_user_limits_them_to_its_world(user):
    WorldMembership.objects.create(world_id="alpha", user=user)

    assert allowed_world_ids(user) == frozenset({"alpha"})
    assert may_use_world(user, world_id="alpha")
    assert not may_use_world(user, world_id="beta")


def test_a_membership_of_one_of_the_users_groups_limits_them_to_its_world(user, crew):
    Group.objects.create(name="idle").user_set.add(user)
    WorldMembership.objects.create(world_id="beta", group=crew)

    assert allowed_world_ids(user) == frozenset({"beta"})
    assert not may_use_world(user, world_id="alpha")


def test_memberships_of_the_user_and_of_their_groups_add_up(user, crew):
    WorldMembership.objects.create(world_id="alpha", user=user)
    WorldMembership.objects.create(world_id="beta", group=crew)
    WorldMembership.objects.create(world_id="alpha", group=crew)

    assert allowed_world_ids(user) == frozenset({"alpha", "beta"})


def test_a_superuser_is_never_limited_and_costs_no_query(user, django_assert_num_queries):
    user.is_superuser = True
    user.save()
    WorldMembership.objects.create(world_id="alpha", user=user)

    with django_assert_num_queries(0):
        assert allowed_world_ids(user) is None
        assert may_use_world(user, world_id="beta")


def test_anonymous_and_inactive_users_may_use_no_world(user):
    user.is_active = False
    user.save()

    assert allowed_world_ids(AnonymousUser()) == frozenset()
    assert not may_use_world(AnonymousUser(), world_id="alpha")
    assert allowed_world_ids(user) == frozenset()


def test_the_answer_takes_one_query_and_is_cached_on_the_user_object(
    user, crew, django_assert_num_queries
):
    WorldMembership.objects.create(world_id="alpha", group=crew)
    user = fresh(user)

    with django_assert_num_queries(1):
        assert allowed_world_ids(user) == frozenset({"alpha"})
    WorldMembership.objects.create(world_id="beta", user=user)
    with django_assert_num_queries(0):
        assert allowed_world_ids(user) == frozenset({"alpha"})
        assert not may_use_world(user, world_id="beta")
    assert allowed_world_ids(fresh(user)) == frozenset({"alpha", "beta"})


def test_an_unlimited_answer_is_cached_too(user, django_assert_num_queries):
    user = fresh(user)
    assert allowed_world_ids(user) is None

    with django_assert_num_queries(0):
        assert allowed_world_ids(user) is None


@pytest.mark.parametrize("members", ["both", "neither"])
def test_a_membership_names_exactly_one_of_user_and_group(user, crew, members):
    fields = {"user": user, "group": crew} if members == "both" else {}
    membership = WorldMembership(world_id="alpha", **fields)

    with pytest.raises(ValidationError, match=re.escape(WORLD_MEMBERSHIP_USER_XOR_GROUP)):
        membership.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        membership.save()
    assert not WorldMembership.objects.exists()


def test_a_user_or_group_is_admitted_to_a_world_once(user, crew):
    WorldMembership.objects.create(world_id="alpha", user=user)
    WorldMembership.objects.create(world_id="alpha", group=crew)

    with pytest.raises(IntegrityError), transaction.atomic():
        WorldMembership.objects.create(world_id="alpha", user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        WorldMembership.objects.create(world_id="alpha", group=crew)
    # One user and one group in the same world: NULLs do not collide.
    WorldMembership.objects.create(world_id="alpha", group=Group.objects.create(name="more"))
    WorldMembership.objects.create(world_id="beta", user=user)
    assert WorldMembership.objects.count() == 4

"""The API's permission classes, through real DRF views: 401, 403 or through, per role."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from access.models import WorldMembership
from access.permissions import (
    ACCESS_CANNOT_APPLY,
    ACCESS_CANNOT_READ,
    ACCESS_CANNOT_REVERSE,
    ACCESS_STAFF_ONLY,
    ACCESS_WORLD_DENIED,
    CanApplyEvents,
    CanReadLedger,
    CanReverseEvents,
    require_world,
)
from access.roles import APPLY_PERMISSION, INSPECTORS, READ_PERMISSION
from pipeworks.api import StaffAPIView
from tests.access.conftest import make_user, staff_user

pytestmark = pytest.mark.django_db


class LedgerView(StaffAPIView):
    """A stand-in for a ledger view: GET reads, POST writes, in the world of the path."""

    def get(self, request, world_id):
        require_world(request, world_id=world_id)
        return Response({"read": world_id})

    def post(self, request, world_id):
        require_world(request, world_id=world_id)
        return Response({"wrote": world_id}, status=201)


def call(permission, method: str, user=None, world_id: str = "alpha"):
    """Answer ``method`` on a LedgerView guarded by ``permission``, as ``user``."""
    factory = APIRequestFactory()
    request = getattr(factory, method.lower())(f"/admin/{world_id}", {}, format="json")
    if user is not None:
        force_authenticate(request, user=user)
    view = LedgerView.as_view(permission_classes=[permission])
    return view(request, world_id=world_id)


def refused(message: str) -> dict:
    return {"detail": message, "code": "permission_denied", "field": None}


@pytest.mark.parametrize("permission", [CanReadLedger, CanApplyEvents, CanReverseEvents])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_anonymous_request_is_answered_401(permission, method):
    response = call(permission, method)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.data["code"] == "not_authenticated"


@pytest.mark.parametrize("permission", [CanReadLedger, CanApplyEvents, CanReverseEvents])
def test_staff_without_the_read_permission_is_refused_403(permission):
    response = call(permission, "GET", staff_user("clerk"))

    assert response.status_code == 403
    assert response.data == refused(ACCESS_CANNOT_READ)


def test_a_user_who_is_not_staff_is_refused_whatever_their_groups():
    user = make_user("player", is_staff=False)
    user.groups.add(Group.objects.get(name=INSPECTORS))

    response = call(CanReadLedger, "GET", user)

    assert response.status_code == 403
    assert response.data == refused(ACCESS_STAFF_ONLY)


def test_an_inspector_may_read_but_not_apply_or_reverse(inspector):
    assert call(CanReadLedger, "GET", inspector).status_code == 200
    assert call(CanApplyEvents, "GET", inspector).status_code == 200
    assert call(CanReverseEvents, "GET", inspector).status_code == 200

    applied = call(CanApplyEvents, "POST", inspector)
    reversed_ = call(CanReverseEvents, "POST", inspector)

    assert (applied.status_code, applied.data) == (403, refused(ACCESS_CANNOT_APPLY))
    assert (reversed_.status_code, reversed_.data) == (403, refused(ACCESS_CANNOT_REVERSE))


def test_can_read_ledger_asks_only_the_read_permission_whatever_the_method(inspector):
    """A read-only view keeps answering its own 405 (here: the view's POST) to a reader."""
    assert call(CanReadLedger, "POST", inspector).status_code == 201


def test_a_game_master_may_read_apply_and_reverse(game_master):
    assert call(CanApplyEvents, "GET", game_master).status_code == 200
    assert call(CanApplyEvents, "POST", game_master).status_code == 201
    assert call(CanReverseEvents, "POST", game_master).status_code == 201


def test_applying_needs_the_read_permission_too():
    writer = staff_user("writer", perms=[APPLY_PERMISSION])

    response = call(CanApplyEvents, "POST", writer)

    assert (response.status_code, response.data) == (403, refused(ACCESS_CANNOT_READ))


def test_only_the_reverse_permission_lets_a_reader_reverse():
    reader = staff_user("reader", perms=[READ_PERMISSION, "ledger.reverse_event"])

    assert call(CanReverseEvents, "POST", reader).status_code == 201
    assert call(CanApplyEvents, "POST", reader).status_code == 403


def test_a_superuser_passes_every_class_but_must_be_staff(superuser):
    for permission in (CanReadLedger, CanApplyEvents, CanReverseEvents):
        assert call(permission, "POST", superuser).status_code == 201

    superuser.is_staff = False
    response = call(CanApplyEvents, "GET", superuser)
    assert (response.status_code, response.data) == (403, refused(ACCESS_STAFF_ONLY))


def test_require_world_refuses_a_world_outside_the_users_limits(synced, game_master):
    WorldMembership.objects.create(world_id="alpha", user=game_master)

    assert call(CanApplyEvents, "POST", game_master, world_id="alpha").status_code == 201
    response = call(CanApplyEvents, "POST", game_master, world_id="beta")

    assert response.status_code == 403
    assert response.data == refused(ACCESS_WORLD_DENIED.format(world_id="beta"))
    assert response.data["detail"] == "you may not act in world 'beta'"


def test_require_world_lets_an_unlimited_user_into_any_world(synced, game_master):
    assert call(CanApplyEvents, "POST", game_master, world_id="beta").status_code == 201
    assert call(CanApplyEvents, "GET", game_master, world_id="alpha").status_code == 200


def test_has_permission_is_false_for_anonymous_for_drf_to_answer_not_authenticated():
    request = APIRequestFactory().get("/")
    request.user = AnonymousUser()

    assert CanReadLedger().has_permission(request, None) is False

"""POST and GET /admin/worlds/{world_id}/characters: create a character, read many."""

import threading

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from access.models import WorldMembership
from ledger.models import Event
from ledger.selectors import MAX_CHARACTER_STATES
from ledger.serializers import (
    API_IDS_WITH_PAGING,
    API_RETIRED_SCORE_AXIS,
    API_TOO_MANY_IDS,
    API_UNKNOWN_SCORE_AXIS,
)
from ledger.services import CHARACTER_CREATED, apply_event
from pipeworks.api import API_RETRY_MAY_REPEAT
from tests.api.conftest import (
    GAME_MASTER,
    READ,
    api_key_for,
    make_user,
    retire_axis,
    state_url,
)
from tests.conftest import table_state
from tests.factories import CharacterFactory
from tests.faults import failing_commit
from worlds import views
from worlds.models import Character, World
from worlds.services import create_character
from worlds.services.characters import creation_request_hash


def characters_url(world_id: str = "alpha") -> str:
    return f"/admin/worlds/{world_id}/characters"


def create(client, body: dict, world_id: str = "alpha", **headers):
    return client.post(characters_url(world_id), body, format="json", headers=headers)


def state_of(client, character_id: int) -> dict:
    """The character's state as GET axis-state answers it, with its name."""
    body = client.get(state_url(character_id)).json()
    return {**body, "name": Character.objects.get(pk=character_id).name}


def assert_refused(response, status: int, code: str, field: str | None, before: dict) -> None:
    assert response.status_code == status, response.content
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert table_state() == before


# Creating --------------------------------------------------------------------------------


def test_a_creation_answers_201_with_the_state_and_writes_the_genesis_event_with_the_key(
    staff_client, synced
):
    body = {"name": "Ada", "scores": {"wealth": 0.7}, "idempotency_key": "ada-1"}

    response = create(staff_client, body)

    assert response.status_code == 201, response.content
    ada = Character.objects.get(world_id="alpha", name="Ada")
    assert response.json() == state_of(staff_client, ada.pk)
    answer = response.json()
    assert (answer["character_id"], answer["world_id"], answer["name"]) == (ada.pk, "alpha", "Ada")
    assert (answer["state_seed"], answer["snapshot_stale"], answer["as_of"]) == (0, False, None)
    assert {axis["axis_name"]: axis["axis_score"] for axis in answer["axes"]} == {
        "health": 0.8,  # the axis default
        "luck": 0.25,
        "wealth": 0.7,  # given
    }
    genesis = Event.objects.get(idempotency_key="ada-1")
    assert genesis.event_type.name == CHARACTER_CREATED
    assert genesis.world_id == "alpha"
    assert genesis.request_hash == creation_request_hash(name="Ada", scores={"wealth": 0.7})
    assert set(genesis.deltas.values_list("character_id", flat=True)) == {ada.pk}


def test_a_creation_without_key_or_scores_starts_every_axis_at_its_default(staff_client, synced):
    response = create(staff_client, {"name": "Bo"})

    assert response.status_code == 201
    scores = {axis["axis_name"]: axis["axis_score"] for axis in response.json()["axes"]}
    assert scores == {"health": 0.8, "luck": 0.25, "wealth": 0.5}
    genesis = Event.objects.filter(deltas__character__name="Bo").distinct().get()
    assert (genesis.event_type.name, genesis.idempotency_key) == (CHARACTER_CREATED, None)


@pytest.mark.parametrize("how", ["body", "header", "both"])
def test_a_retry_with_the_same_key_answers_200_with_the_original_character(
    token_client, synced, how
):
    body = {"name": "Ada", "scores": {"wealth": 0.7, "luck": 1}}
    headers = {}
    if how in ("body", "both"):
        body["idempotency_key"] = "ada-1"
    if how in ("header", "both"):
        headers["Idempotency-Key"] = "ada-1"
    first = create(token_client, body, **headers)
    ada = Character.objects.get(name="Ada")
    apply_event(world_id="alpha", event_type="loot", deltas={ada.pk: {"wealth": 0.1}})
    before = table_state()

    retry = create(token_client, {**body, "scores": {"luck": 1.0, "wealth": 0.7}}, **headers)

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == state_of(token_client, ada.pk)  # its state now
    assert retry.json()["state_seed"] == 1
    assert table_state() == before
    assert Event.objects.get(idempotency_key="ada-1").event_type.name == CHARACTER_CREATED


@pytest.mark.parametrize(
    "other",
    [{"name": "Bea"}, {"name": "Ada", "scores": {"wealth": 0.6}}, {"name": "Ada", "scores": {}}],
    ids=["another name", "other scores", "no scores"],
)
def test_the_same_key_with_another_request_is_409(staff_client, synced, other):
    create(staff_client, {"name": "Ada", "scores": {"wealth": 0.7}, "idempotency_key": "k"})
    before = table_state()

    response = create(staff_client, {**other, "idempotency_key": "k"})

    assert_refused(response, 409, "idempotency_conflict", "idempotency_key", before)


def test_an_empty_scores_object_is_the_same_request_as_none(staff_client, synced):
    first = create(staff_client, {"name": "Cy", "idempotency_key": "k"})

    retry = create(staff_client, {"name": "Cy", "scores": {}, "idempotency_key": "k"})

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["character_id"] == first.json()["character_id"]


def test_a_key_is_one_per_world_across_events_and_creations(staff_client, hero):
    apply_event(
        world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}}, idempotency_key="k"
    )
    create(staff_client, {"name": "Ada", "idempotency_key": "c"})
    before = table_state()

    reused_event_key = create(staff_client, {"name": "Bea", "idempotency_key": "k"})
    reused_creation_key = staff_client.post(
        f"/admin/characters/{hero.pk}/axis-events",
        {"event_type": "loot", "deltas": {"wealth": 0.1}, "idempotency_key": "c"},
        format="json",
    )

    assert_refused(reused_event_key, 409, "idempotency_conflict", "idempotency_key", before)
    assert_refused(reused_creation_key, 409, "idempotency_conflict", "idempotency_key", before)
    in_another_world = create(staff_client, {"name": "Ada", "idempotency_key": "c"}, "beta")
    assert in_another_world.status_code == 201


def test_a_header_and_a_body_key_that_differ_are_a_400(staff_client, synced):
    before = table_state()

    response = create(staff_client, {"name": "Ada", "idempotency_key": "a"}, Idempotency_Key="b")

    assert_refused(response, 400, "idempotency_key_mismatch", "idempotency_key", before)


def test_a_name_the_world_has_is_409_duplicate_name(staff_client, hero):
    CharacterFactory(name="Ada", world_id="beta")
    before = table_state()

    response = create(staff_client, {"name": "hero", "idempotency_key": "new-key"})

    assert_refused(response, 409, "duplicate_name", "name", before)
    assert response.json()["detail"] == views.API_DUPLICATE_NAME.format(
        world_id="alpha", name="hero"
    )
    assert create(staff_client, {"name": "Ada"}).status_code == 201  # beta's Ada is elsewhere


@pytest.mark.parametrize("world_id", ["nowhere", "ALPHA", "al%00pha", "x" * 65, "a.b"])
def test_an_unknown_world_is_404(staff_client, synced, world_id):
    before = table_state()

    response = create(staff_client, {"name": "Ada"}, world_id)

    assert_refused(response, 404, "unknown_world", None, before)


def test_a_world_without_active_axes_is_400_no_axes(staff_client, synced):
    World.objects.create(world_id="empty", policy_hash="x" * 64)
    before = table_state()

    response = create(staff_client, {"name": "Ada"}, "empty")

    assert_refused(response, 400, "no_axes", None, before)


@pytest.mark.parametrize(
    ("scores", "code", "field"),
    [
        ({"charm": 0.5}, "unknown_axis", "scores.charm"),
        ({"morale": 0.5}, "unknown_axis", "scores.morale"),  # an axis of beta only
        ({"wealth": 0.5, "": 0.5}, "unknown_axis", "scores."),
        ({"wealth": 1.5}, "max_value", "scores.wealth"),
        ({"luck": -0.1}, "min_value", "scores.luck"),
        ({"wealth": "0.5"}, "invalid", "scores.wealth"),
        ({"wealth": True}, "invalid", "scores.wealth"),
        ({"wealth": None}, "null", "scores.wealth"),
        ({"wealth": [0.5]}, "invalid", "scores.wealth"),
        ([0.5], "not_a_dict", "scores"),
        ({f"axis_{n}": 0.5 for n in range(1001)}, "too_many_scores", "scores"),
    ],
    ids=[
        "unknown axis",
        "another world's axis",
        "empty axis name",
        "above 1",
        "below 0",
        "string",
        "boolean",
        "null",
        "list",
        "not an object",
        "too many",
    ],
)
def test_a_bad_score_is_400_naming_the_axis_and_writes_nothing(
    staff_client, synced, scores, code, field
):
    before = table_state()

    response = create(staff_client, {"name": "Ada", "scores": scores, "idempotency_key": "k"})

    assert_refused(response, 400, code, field, before)
    if code == "unknown_axis":
        axis = field.removeprefix("scores.")
        assert response.json()["detail"] == (
            f"{field}: " + API_UNKNOWN_SCORE_AXIS.format(axis=axis, world_id="alpha")
        )


def test_a_retired_axis_takes_no_score(staff_client, synced, worlds_dir):
    retire_axis(worlds_dir, "alpha", "luck")
    before = table_state()

    response = create(staff_client, {"name": "Ada", "scores": {"luck": 0.5}})

    assert_refused(response, 400, "retired_axis", "scores.luck", before)
    assert response.json()["detail"].endswith(
        API_RETIRED_SCORE_AXIS.format(axis="luck", world_id="alpha")
    )


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "required", "name"),
        ({"name": ""}, "blank", "name"),
        ({"name": "x" * 201}, "max_length", "name"),
        ({"name": 7}, "invalid", "name"),
        ({"name": "A\x00da"}, "null_characters_not_allowed", "name"),
        ({"name": "Ada", "role": "bard"}, "unknown_field", "role"),
        ({"name": "Ada", "idempotency_key": ""}, "blank", "idempotency_key"),
        ({"name": "Ada", "idempotency_key": "k" * 201}, "invalid", "idempotency_key"),
        ({"name": "Ada", "idempotency_key": 5}, "invalid", "idempotency_key"),
        ([{"name": "Ada"}], "invalid", None),
    ],
    ids=[
        "no name",
        "empty name",
        "long name",
        "number name",
        "NUL in name",
        "unknown field",
        "empty key",
        "long key",
        "number key",
        "list body",
    ],
)
def test_a_bad_body_is_400_naming_the_field_and_writes_nothing(
    staff_client, synced, body, code, field
):
    before = table_state()

    response = create(staff_client, body)

    assert_refused(response, 400, code, field, before)


def test_a_body_that_is_not_json_is_400(staff_client, synced):
    before = table_state()

    response = staff_client.post(characters_url(), "{name: Ada}", content_type="application/json")

    assert_refused(response, 400, "parse_error", None, before)


# Who may create and read -----------------------------------------------------------------


def client_with_key(*, permissions=GAME_MASTER, **scopes) -> APIClient:
    client = APIClient()
    owner = make_user(is_staff=False, permissions=permissions)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(owner, **scopes)}")
    return client


@pytest.mark.parametrize(
    ("who", "post_status", "get_status"),
    [
        ("anonymous", 401, 401),
        ("not staff", 403, 403),
        ("staff without a role", 403, 403),
        ("reader", 403, 200),
        ("read-only key", 403, 200),
        ("key of another world", 403, 403),
        ("game master of another world", 403, 403),
        ("game master", 201, 200),
        ("writing key", 201, 200),
    ],
)
def test_each_role_may_create_and_read_exactly_as_for_events(
    synced, request, who, post_status, get_status
):
    def session_of(*, permissions, world_id=None) -> APIClient:
        user = make_user(is_staff=True, permissions=permissions)
        if world_id is not None:
            WorldMembership.objects.create(user=user, world_id=world_id)
        client = APIClient()
        client.force_login(user)
        return client

    clients = {
        "anonymous": lambda: request.getfixturevalue("anonymous_client"),
        "not staff": lambda: request.getfixturevalue("member_client"),
        "staff without a role": lambda: request.getfixturevalue("bare_staff_client"),
        "reader": lambda: session_of(permissions=READ),
        "read-only key": lambda: client_with_key(may_apply=False, may_reverse=False),
        "key of another world": lambda: client_with_key(worlds=["beta"]),
        "game master of another world": lambda: session_of(
            permissions=GAME_MASTER, world_id="beta"
        ),
        "game master": lambda: session_of(permissions=GAME_MASTER),
        "writing key": lambda: client_with_key(),
    }
    client = clients[who]()
    before = table_state()

    created = create(client, {"name": "Ada", "idempotency_key": "k"})
    read = client.get(characters_url(), {"ids": "1"})

    assert (created.status_code, read.status_code) == (post_status, get_status)
    if post_status != 201:
        assert table_state() == before
    if get_status != 200:
        assert read.json()["code"] in ("not_authenticated", "permission_denied")


def test_a_game_master_limited_to_a_world_gets_403_for_any_other_known_or_not(synced):
    client = client_with_key(worlds=["beta"])

    assert create(client, {"name": "Ada"}, "nowhere").status_code == 403
    assert client.get(characters_url("nowhere")).status_code == 403
    assert create(client, {"name": "Ada"}, "beta").status_code == 201


# When the database fails -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failure_before_the_commit_is_503_database_error_and_writes_nothing(
    token_client, synced, monkeypatch
):
    from django.db import OperationalError

    from ledger.services import state

    def broken(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(state, "write_event_state", broken)
    before = table_state()

    response = create(token_client, {"name": "Ada"}, Idempotency_Key="ada-1")

    assert_refused(response, 503, "database_error", None, before)
    assert "nothing was written and a retry is safe" in response.json()["detail"]
    assert response.json()["detail"].endswith(API_RETRY_MAY_REPEAT)
    assert response["Retry-After"] == "1"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reaches_server", [True, False], ids=["committed", "not committed"])
def test_a_creation_lost_at_commit_is_503_outcome_unknown_and_the_keyed_retry_settles_it(
    token_client, synced, reaches_server
):
    with failing_commit(reaches_server=reaches_server):
        lost = create(token_client, {"name": "Ada"}, Idempotency_Key="ada-1")

    assert (lost.status_code, lost.json()["code"]) == (503, "outcome_unknown")
    assert "may or may not have been saved" in lost.json()["detail"]

    retry = create(token_client, {"name": "Ada"}, Idempotency_Key="ada-1")

    assert retry.status_code == (200 if reaches_server else 201)
    ada = Character.objects.get(world_id="alpha", name="Ada")
    assert retry.json()["character_id"] == ada.pk
    assert Event.objects.filter(idempotency_key="ada-1").count() == 1


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_on_sqlite_a_failed_commit_is_503_database_error_and_writes_nothing(token_client, synced):
    before = table_state()

    with failing_commit(reaches_server=False):
        response = create(token_client, {"name": "Ada"}, Idempotency_Key="ada-1")

    assert_refused(response, 503, "database_error", None, before)


def test_a_failure_after_the_commit_still_answers_201_with_the_id(
    token_client, synced, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("cannot read the state")

    monkeypatch.setattr(views, "get_character_state", broken)

    response = create(token_client, {"name": "Ada"})

    ada = Character.objects.get(world_id="alpha", name="Ada")
    assert response.status_code == 201
    assert response.json() == {
        "character_id": ada.pk,
        "world_id": "alpha",
        "name": "Ada",
        "detail": views.API_CREATED_NOT_SHOWN.format(character_id=ada.pk),
    }


# Two creations at the same moment (PostgreSQL, where the row locks are real) -------------


def at_once(target, count: int = 4) -> list:
    """Run ``target(index)`` in ``count`` threads released together; return the results."""
    from django.db import connection

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        try:
            barrier.wait(timeout=30)
            results[index] = target(index)
        except Exception as exc:  # noqa: BLE001 (returned for the assertions)
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_creations_with_one_key_at_the_same_moment_create_one_character(synced):
    results = at_once(
        lambda _: create_character(world_id="alpha", name="Ada", idempotency_key="ada-1")
    )

    assert all(isinstance(result, Character) for result in results), results
    assert len({result.pk for result in results}) == 1
    assert sorted(result.replayed for result in results) == [False, True, True, True]
    assert Character.objects.filter(name="Ada").count() == 1
    assert Event.objects.filter(idempotency_key="ada-1").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_creations_of_one_name_at_the_same_moment_create_one_and_refuse_the_others(synced):
    results = at_once(lambda _: create_character(world_id="alpha", name="Ada"))

    created = [result for result in results if isinstance(result, Character)]
    refused = [result for result in results if isinstance(result, ValidationError)]
    assert (len(created), len(refused)) == (1, 3), results
    assert all(error.error_dict["__all__"][0].code == "unique_together" for error in refused)
    assert Character.objects.filter(name="Ada").count() == 1


# Reading many ----------------------------------------------------------------------------


@pytest.fixture
def cast(synced) -> list[Character]:
    """Seven characters of alpha (one with history) and two of beta, made in turn."""
    characters = []
    for index in range(9):
        world_id = "beta" if index in (2, 6) else "alpha"
        characters.append(CharacterFactory(name=f"c{index}", world_id=world_id))
    apply_event(world_id="alpha", event_type="loot", deltas={characters[0].pk: {"wealth": 0.2}})
    return characters


def alpha(cast) -> list[Character]:
    return [character for character in cast if character.world_id == "alpha"]


def read(client, world_id: str = "alpha", **params):
    return client.get(characters_url(world_id), params)


def test_reading_by_ids_answers_each_state_in_the_order_given_each_once(inspector_client, cast):
    first, second, third = alpha(cast)[:3]
    ids = f"{third.pk},{first.pk},{second.pk},{first.pk}"

    response = read(inspector_client, ids=ids)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["world_id"] == "alpha"
    assert body["missing"] == []
    assert body["next_after"] is None
    assert body["characters"] == [
        state_of(inspector_client, character.pk) for character in (third, first, second)
    ]
    assert body["characters"][1]["state_seed"] == 1


def test_ids_of_no_character_of_the_world_are_listed_missing_in_the_order_given(
    inspector_client, cast
):
    hero = alpha(cast)[0]
    foreign = cast[2]  # of beta: missing, as an unknown id
    ids = f"999999,{foreign.pk},{hero.pk},0,9999999999999999999,999999"

    response = read(inspector_client, ids=ids)

    assert response.status_code == 200, response.content
    body = response.json()
    assert [character["character_id"] for character in body["characters"]] == [hero.pk]
    assert body["missing"] == [999999, foreign.pk, 0, 9999999999999999999]


def test_paging_through_the_world_follows_next_after(inspector_client, cast):
    pages = []
    params = {"limit": 3}
    while True:
        response = read(inspector_client, **params)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([character["character_id"] for character in body["characters"]])
        assert body["missing"] == []
        if body["next_after"] is None:
            break
        params = {"limit": 3, "after": body["next_after"]}

    ids = [character.pk for character in alpha(cast)]
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    first_page = read(inspector_client, after=0, limit=3).json()
    assert first_page["characters"][0] == state_of(inspector_client, ids[0])
    assert read(inspector_client).json()["next_after"] is None  # default limit 100
    assert read(inspector_client, after=ids[-1]).json()["characters"] == []


def test_a_world_without_characters_reads_empty(inspector_client, synced):
    response = read(inspector_client, "beta")

    assert response.json() == {
        "world_id": "beta",
        "characters": [],
        "missing": [],
        "next_after": None,
    }


def test_the_most_ids_are_read_and_one_more_is_400(inspector_client, cast):
    hero = alpha(cast)[0]
    most = [hero.pk, *range(10**6, 10**6 + MAX_CHARACTER_STATES - 1)]

    answered = read(inspector_client, ids=",".join(map(str, most)))
    refused = read(inspector_client, ids=",".join(map(str, [*most, 7])))

    assert answered.status_code == 200
    assert len(answered.json()["missing"]) == MAX_CHARACTER_STATES - 1
    assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (
        400,
        "too_many_ids",
        "ids",
    )
    assert refused.json()["detail"] == "ids: " + API_TOO_MANY_IDS.format(
        count=MAX_CHARACTER_STATES + 1
    )


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"ids": ""}, "blank", "ids"),
        ({"ids": "a"}, "invalid", "ids"),
        ({"ids": "1,,2"}, "invalid", "ids"),
        ({"ids": "1,2,"}, "invalid", "ids"),
        ({"ids": "1, 2"}, "invalid", "ids"),
        ({"ids": "-1"}, "invalid", "ids"),
        ({"ids": "1.5"}, "invalid", "ids"),
        ({"ids": "1" * 20}, "invalid", "ids"),
        ({"ids": "1\x002"}, "null_characters_not_allowed", "ids"),
        ({"ids": "1", "after": "0"}, "ids_with_paging", "after"),
        ({"ids": "1", "limit": "5"}, "ids_with_paging", "limit"),
        ({"limit": "0"}, "min_value", "limit"),
        ({"limit": str(MAX_CHARACTER_STATES + 1)}, "max_value", "limit"),
        ({"limit": "x"}, "invalid", "limit"),
        ({"after": "-1"}, "invalid", "after"),
        ({"after": "9223372036854775808"}, "max_value", "after"),
    ],
    ids=[
        "empty ids",
        "text",
        "empty item",
        "trailing comma",
        "space",
        "negative",
        "fraction",
        "20 digits",
        "NUL",
        "ids and after",
        "ids and limit",
        "limit zero",
        "limit too big",
        "limit text",
        "after negative",
        "after beyond BIGINT",
    ],
)
def test_bad_parameters_are_400_naming_them(inspector_client, cast, params, code, field):
    response = read(inspector_client, **params)

    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    if code == "ids_with_paging":
        assert response.json()["detail"] == f"{field}: {API_IDS_WITH_PAGING}"


def test_reading_an_unknown_world_is_404(inspector_client, synced):
    assert read(inspector_client, "nowhere", ids="1").json()["code"] == "unknown_world"
    assert read(inspector_client, "nowhere").status_code == 404


def test_the_query_count_is_the_same_for_one_character_and_three_hundred(
    staff_client, synced, django_assert_max_num_queries
):
    """Two queries read the characters and their scores, whatever their number."""
    bound = 8  # 5 for the session and the access checks, the world, the characters, scores
    first = CharacterFactory()
    read(staff_client, ids=str(first.pk))  # warm-up: the registry is cached per process

    with django_assert_max_num_queries(bound) as one_by_ids:
        one = read(staff_client, ids=str(first.pk))
    with django_assert_max_num_queries(bound) as one_page:
        read(staff_client)

    ids = [first.pk] + [CharacterFactory().pk for _ in range(299)]

    with django_assert_max_num_queries(bound) as many_by_ids:
        many = read(staff_client, ids=",".join(map(str, ids)))
    with django_assert_max_num_queries(bound) as many_page:
        page = read(staff_client, limit=300)

    assert len(one.json()["characters"]) == 1
    assert len(many.json()["characters"]) == len(page.json()["characters"]) == 300
    assert all(len(character["axes"]) == 3 for character in many.json()["characters"])
    assert len(one_by_ids) == len(many_by_ids) == len(one_page) == len(many_page)

"""Every answer to a write says truthfully whether the event was written.

- A failure after the COMMIT (building the answer) is still a success, with the event id.
- A failure at the COMMIT is 503 ``outcome_unknown``; a retry with the same key settles it.
- A failure before it is 503 ``database_error``: nothing was written.
- Every 503 on a write says a retry without a key may apply twice; reads say no such thing.
- The key may come as the ``Idempotency-Key`` header.
"""

import pytest
from django.db import OperationalError

from ledger import views
from ledger.models import Event
from pipeworks.api import API_DATABASE_UNAVAILABLE, API_RETRY_MAY_REPEAT
from tests.api.conftest import events_url, state_url
from tests.conftest import table_state
from tests.faults import failing_commit

pytestmark = pytest.mark.django_db(transaction=True)

JSON = "application/json"
BODY = {"event_type": "loot", "deltas": {"wealth": 0.1}}


def post(client, url, body=None, **headers):
    return client.post(url, body if body is not None else BODY, format="json", headers=headers)


def broken(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


# After the COMMIT -----------------------------------------------------------------------


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "no key"])
def test_a_failure_after_the_commit_still_answers_success(token_client, hero, monkeypatch, keyed):
    monkeypatch.setattr(views, "serialize_event", broken)
    body = {**BODY, "idempotency_key": "after-1"} if keyed else BODY

    response = post(token_client, events_url(hero.pk), body)

    assert response.status_code == 201
    event = Event.objects.get(event_type__name="loot")
    assert response.json() == {
        "event_id": event.pk,
        "world_id": "alpha",
        "replayed": False,
        "detail": views.API_WRITTEN_NOT_SHOWN.format(event_id=event.pk),
    }


def test_a_batch_whose_answer_fails_after_the_commit_still_answers_success(
    token_client, hero, monkeypatch
):
    monkeypatch.setattr(views, "serialize_event", broken)
    events = [
        {
            "event_type": "tick",
            "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": d}],
        }
        for d in (0.1, 0.2)
    ]

    response = post(token_client, "/admin/events:batch", {"world_id": "alpha", "events": events})

    assert response.status_code == 201
    ids = list(
        Event.objects.filter(event_type__name="tick").order_by("pk").values_list("pk", flat=True)
    )
    assert [item["event_id"] for item in response.json()["events"]] == ids
    assert len(ids) == 2


# At the COMMIT --------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("reaches_server", [True, False], ids=["committed", "not committed"])
def test_a_commit_lost_on_the_way_is_503_outcome_unknown_and_the_keyed_retry_settles_it(
    token_client, hero, reaches_server
):
    # times=2: the server's own retry of the keyed write is lost at its COMMIT too.
    with failing_commit(reaches_server=reaches_server, times=2) as fault:
        response = post(token_client, events_url(hero.pk), Idempotency_Key="lost-1")

    assert fault.commits == 2

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    answer = response.json()
    assert answer["code"] == "outcome_unknown"
    assert "may or may not have been saved" in answer["detail"]
    assert "Retry with the same idempotency_key" in answer["detail"]
    assert answer["detail"].endswith(API_RETRY_MAY_REPEAT)

    retry = post(token_client, events_url(hero.pk), Idempotency_Key="lost-1")

    assert retry.status_code == (200 if reaches_server else 201)
    assert Event.objects.filter(idempotency_key="lost-1").count() == 1
    assert retry.json()["event_id"] == Event.objects.get(idempotency_key="lost-1").pk


@pytest.mark.postgres
@pytest.mark.parametrize("reaches_server", [True, False], ids=["committed", "not committed"])
def test_a_keyed_write_lost_once_at_commit_is_retried_by_the_server(
    token_client, hero, reaches_server
):
    with failing_commit(reaches_server=reaches_server) as fault:
        response = post(token_client, events_url(hero.pk), Idempotency_Key="lost-2")

    assert fault.commits == 2
    # The first COMMIT landed: the server's retry answers as the idempotent replay.
    assert response.status_code == (200 if reaches_server else 201)
    assert response.json()["event_id"] == Event.objects.get(idempotency_key="lost-2").pk


@pytest.mark.postgres
def test_an_unkeyed_write_lost_at_commit_is_told_a_retry_may_apply_twice(token_client, hero):
    with failing_commit(reaches_server=True) as fault:
        response = post(token_client, events_url(hero.pk))

    assert response.status_code == 503
    assert response.json()["code"] == "outcome_unknown"
    assert "It carried no idempotency_key: a retry may apply it twice" in response.json()["detail"]
    assert fault.commits == 1  # never retried by the server
    assert Event.objects.filter(event_type__name="loot").count() == 1


@pytest.mark.postgres
def test_a_batch_lost_at_commit_is_503_outcome_unknown_and_the_header_retry_replays_it(
    token_client, hero
):
    delta = [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}]
    body = {"world_id": "alpha", "events": [{"event_type": "tick", "deltas": delta}] * 2}

    with failing_commit(reaches_server=True, times=2):
        lost = post(token_client, "/admin/events:batch", body, Idempotency_Key="tick-9")
    retry = post(token_client, "/admin/events:batch", body, Idempotency_Key="tick-9")

    assert (lost.status_code, lost.json()["code"]) == (503, "outcome_unknown")
    assert retry.status_code == 200
    keys = Event.objects.filter(event_type__name="tick").values_list("idempotency_key", flat=True)
    assert sorted(keys) == ["tick-9.0", "tick-9.1"]


@pytest.mark.sqlite
def test_on_sqlite_a_failed_commit_is_503_database_error_and_writes_nothing(token_client, hero):
    before = table_state()

    with failing_commit(reaches_server=False):
        response = post(token_client, events_url(hero.pk), Idempotency_Key="locked-1")

    assert response.status_code == 503
    assert response.json()["code"] == "database_error"
    assert "nothing was written" in response.json()["detail"]
    assert table_state() == before


# Before the COMMIT, and outside the write ------------------------------------------------


def test_a_failure_before_the_commit_is_503_database_error_and_writes_nothing(
    token_client, hero, monkeypatch
):
    from ledger.services import state

    monkeypatch.setattr(state, "write_event_state", broken)
    before = table_state()

    response = post(token_client, events_url(hero.pk), Idempotency_Key="before-1")

    assert response.status_code == 503
    assert response.json()["code"] == "database_error"
    assert "nothing was written and a retry is safe" in response.json()["detail"]
    assert response.json()["detail"].endswith(API_RETRY_MAY_REPEAT)
    assert table_state() == before


def test_a_read_while_the_database_is_down_is_503_database_unavailable(
    token_client, hero, monkeypatch
):
    monkeypatch.setattr(views, "get_character_state", broken)

    response = token_client.get(state_url(hero.pk))

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "detail": API_DATABASE_UNAVAILABLE,
        "code": "database_unavailable",
        "field": None,
    }


def test_a_write_refused_by_an_outage_before_it_began_warns_about_retries(
    token_client, hero, monkeypatch
):
    monkeypatch.setattr(views, "get_character_or_404", broken)

    response = post(token_client, events_url(hero.pk))

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.json()["detail"] == f"{API_DATABASE_UNAVAILABLE} {API_RETRY_MAY_REPEAT}"


# The Idempotency-Key header ---------------------------------------------------------------


@pytest.mark.parametrize("header", ["order-7", '"order-7"'], ids=["bare", "quoted"])
def test_the_idempotency_key_header_makes_a_retry_exactly_once(token_client, hero, header):
    first = post(token_client, events_url(hero.pk), Idempotency_Key=header)
    again = post(token_client, events_url(hero.pk), Idempotency_Key=header)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["event_id"] == again.json()["event_id"]
    assert Event.objects.get(pk=first.json()["event_id"]).idempotency_key == "order-7"
    # The same key in the body is the same request.
    body = post(token_client, events_url(hero.pk), {**BODY, "idempotency_key": "order-7"})
    assert (body.status_code, body.json()["event_id"]) == (200, first.json()["event_id"])


def test_a_header_and_a_body_key_that_differ_are_a_400(token_client, hero):
    before = table_state()

    response = post(
        token_client, events_url(hero.pk), {**BODY, "idempotency_key": "a"}, Idempotency_Key="b"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_mismatch"
    assert response.json()["field"] == "idempotency_key"
    assert table_state() == before


@pytest.mark.parametrize("header", ["", "x" * 201, "caf\u00e9", "tab\there"])
def test_a_malformed_idempotency_key_header_is_a_400_naming_it(token_client, hero, header):
    before = table_state()

    response = post(token_client, events_url(hero.pk), Idempotency_Key=header)

    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"
    assert table_state() == before


def test_a_batch_header_key_gives_each_event_its_own_key(token_client, hero):
    events = [
        {
            "event_type": "tick",
            "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}],
        },
        {
            "event_type": "tick",
            "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}],
            "idempotency_key": "own",
        },
    ]
    body = {"world_id": "alpha", "events": events}

    first = post(token_client, "/admin/events:batch", body, Idempotency_Key="tick-42")
    again = post(token_client, "/admin/events:batch", body, Idempotency_Key="tick-42")

    assert (first.status_code, again.status_code) == (201, 200)
    keys = list(
        Event.objects.filter(event_type__name="tick")
        .order_by("pk")
        .values_list("idempotency_key", flat=True)
    )
    assert keys == ["tick-42.0", "own"]


def test_the_reverse_endpoint_takes_the_header_too(token_client, hero):
    loot = post(token_client, events_url(hero.pk)).json()["event_id"]
    url = f"/admin/events/{loot}/reverse"

    first = post(token_client, url, {"reason": "mistake"}, Idempotency_Key="undo-7")
    again = post(token_client, url, {"reason": "mistake"}, Idempotency_Key="undo-7")

    assert (first.status_code, again.status_code) == (201, 200)
    assert Event.objects.get(reverses_id=loot).idempotency_key == "undo-7"

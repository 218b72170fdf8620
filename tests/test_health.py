"""The probes: /healthz (liveness) and /readyz (readiness), anonymous, revealing nothing."""

import pytest
from django.db import OperationalError
from django.test import Client

from worlds import health


@pytest.fixture
def anonymous():
    return Client()


def test_healthz_answers_anyone_without_touching_the_database(
    anonymous, db, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = anonymous.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ready_when_the_database_answers_migrated_and_in_sync(anonymous, synced):
    response = anonymous.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": True, "migrations": True, "policies": True},
    }


def test_readyz_is_503_while_a_world_is_out_of_sync(anonymous, synced, worlds_dir):
    path = worlds_dir / "alpha" / "policies" / "axes.yaml"
    path.write_text(path.read_text().replace("default: 0.8", "default: 0.7"))

    response = anonymous.get("/readyz")

    assert response.status_code == 503
    assert response["Retry-After"] == str(health.RETRY_AFTER_SECONDS)
    # Nothing but the three booleans: no world, hash or error is revealed.
    assert response.json() == {
        "status": "not ready",
        "checks": {"database": True, "migrations": True, "policies": False},
    }


def test_readyz_is_503_before_the_first_sync(anonymous, db):
    assert anonymous.get("/readyz").json()["checks"]["policies"] is False


def test_readyz_is_503_when_the_database_does_not_answer(anonymous, db, monkeypatch):
    class Down:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", Down())

    response = anonymous.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": False, "migrations": False, "policies": False}


def test_readyz_is_503_while_migrations_are_pending(anonymous, synced, monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    monkeypatch.setattr(
        health.MigrationExecutor, "migration_plan", lambda self, targets: [("pending", False)]
    )

    response = anonymous.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] is False


@pytest.mark.parametrize("url", ["/healthz", "/readyz"])
def test_probes_take_get_and_head_only(anonymous, db, url):
    assert anonymous.head(url).status_code in (200, 503)
    assert anonymous.post(url).status_code == 405

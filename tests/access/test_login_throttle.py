"""The admin login is throttled per username and per client address, before any hashing.

Failed logins count in the shared cache (the database cache here; Redis in one test);
locked-out attempts are refused with 429 without the password being checked; operators
see the lockouts in the admin and those who may lift them do.
"""

import socket
import types

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import caches

from access.models import LoginLockout
from access.throttle import (
    LIFT_CHANGE_MESSAGE,
    LOGIN_THROTTLE_UNAVAILABLE,
    client_address,
)
from tests.access.conftest import PASSWORD, make_user, staff_user

pytestmark = pytest.mark.usefixtures("empty_cache", "clock")

LOGIN_URL = "/admin/login/"
CHANGELIST_URL = "/admin/access/loginlockout/"
WRONG = "not-the-password"
REDIS_URL = "redis://127.0.0.1:6379/14"


def login(client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username: str, times: int, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        response = login(client, username, WRONG, address)
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()


@pytest.fixture
def hasher_calls(monkeypatch) -> list[str]:
    """Record every password hash computed (checked or made, as for an unknown user)."""
    calls = []
    verify, encode = MD5PasswordHasher.verify, MD5PasswordHasher.encode

    def counting_verify(self, password, encoded):
        calls.append("verify")
        return verify(self, password, encoded)

    def counting_encode(self, password, salt):
        calls.append("encode")
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "verify", counting_verify)
    monkeypatch.setattr(MD5PasswordHasher, "encode", counting_encode)
    return calls


def test_ten_failures_lock_the_username_and_the_right_password_is_refused(client, superuser):
    fail(client, "root", 10)

    response = login(client, "root", PASSWORD)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 900
    page = response.content.decode()
    assert "Too many failed logins for this account; try again in" in page
    assert "or ask an operator to lift the lockout" in page
    assert not logged_in(client)


def test_nine_failures_leave_the_right_password_working(client, superuser):
    fail(client, "root", 9)

    response = login(client, "root", PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_a_locked_out_attempt_is_refused_before_any_password_hashing(
    client, superuser, hasher_calls
):
    fail(client, "root", 10)
    hashed = len(hasher_calls)
    assert hashed >= 10  # every checked attempt hashed

    for password in (WRONG, PASSWORD, WRONG):
        assert login(client, "root", password).status_code == 429

    assert len(hasher_calls) == hashed


def test_usernames_count_case_insensitively(client, superuser):
    for username in ("root", "ROOT", " Root "):
        fail(client, username, 3)
    fail(client, "rOOt", 1)

    assert login(client, "root", PASSWORD).status_code == 429


def test_failures_for_unknown_usernames_count_too(client, settings):
    settings.PIPEWORKS_LOGIN_FAILURES_PER_USERNAME = 3
    fail(client, "nobody", 3)

    assert login(client, "nobody", WRONG).status_code == 429
    assert LoginLockout.objects.get().value == "nobody"


def test_the_address_limit_locks_out_every_username_from_that_address(client, superuser, settings):
    settings.PIPEWORKS_LOGIN_FAILURES_PER_ADDRESS = 5
    for number in range(5):
        fail(client, f"guess{number}", 1, address="203.0.113.9")

    response = login(client, "root", PASSWORD, address="203.0.113.9")

    assert response.status_code == 429
    assert "Too many failed logins from this address" in response.content.decode()
    assert not logged_in(client)
    lockout = LoginLockout.objects.get(kind=LoginLockout.Kind.ADDRESS)
    assert (lockout.value, lockout.failures) == ("203.0.113.9", 5)
    # Another address is not locked out, nor is the username.
    assert login(client, "root", PASSWORD, address="198.51.100.7").status_code == 302


def test_an_ipv6_client_counts_as_its_slash_64_network():
    def request(address):
        return types.SimpleNamespace(META={"REMOTE_ADDR": address})

    assert client_address(request("2001:db8:1:2::5")) == "2001:db8:1:2::/64"
    assert client_address(request("2001:db8:1:2:ffff::9")) == "2001:db8:1:2::/64"
    assert client_address(request("::ffff:192.0.2.1")) == "192.0.2.1"
    assert client_address(request("")) == "unknown"
    assert client_address(request("not an address")) == "unknown"


def test_x_forwarded_for_is_not_trusted(client, superuser, settings):
    settings.PIPEWORKS_LOGIN_FAILURES_PER_ADDRESS = 3
    for number in range(3):
        client.post(
            LOGIN_URL,
            {"username": f"guess{number}", "password": WRONG},
            REMOTE_ADDR="203.0.113.9",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",
        )

    assert login(client, "root", PASSWORD, address="203.0.113.9").status_code == 429


def test_a_tripped_limit_is_recorded_once_with_its_end(client, superuser):
    fail(client, "root", 10)
    login(client, "root", PASSWORD)

    lockout = LoginLockout.objects.get()
    assert (lockout.kind, lockout.value, lockout.failures) == ("username", "root", 10)
    assert lockout.is_active
    assert 0 < (lockout.locked_until - lockout.locked_at).total_seconds() <= 900


def test_the_lockout_ends_with_its_window(client, superuser, settings, clock):
    settings.PIPEWORKS_LOGIN_WINDOW_SECONDS = 60
    fail(client, "root", 10)
    response = login(client, "root", PASSWORD)
    assert response.status_code == 429

    clock.now += int(response["Retry-After"]) - 1
    assert login(client, "root", PASSWORD).status_code == 429
    clock.now += 1

    assert login(client, "root", PASSWORD).status_code == 302


def test_operators_see_active_lockouts_in_the_admin(client, superuser):
    fail(client, "gamemaster", 10)
    client.force_login(superuser)

    page = client.get(CHANGELIST_URL).content.decode()

    assert "gamemaster" in page
    lockout = LoginLockout.objects.get()
    lockout.lifted_at = lockout.locked_at
    lockout.save()
    assert "gamemaster" not in client.get(CHANGELIST_URL).content.decode()
    assert "gamemaster" in client.get(CHANGELIST_URL + "?state=lifted").content.decode()


def test_a_superuser_lifts_a_lockout_and_the_next_login_works(
    client, superuser, django_capture_on_commit_callbacks
):
    victim = make_user("gamemaster", is_staff=True)
    fail(client, "gamemaster", 10)
    assert login(client, "gamemaster", PASSWORD).status_code == 429
    lockout = LoginLockout.objects.get()

    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST_URL,
            {"action": "lift_selected", "_selected_action": [lockout.pk]},
            follow=True,
        )
    client.logout()

    assert "Lifted 1 login lockout(s)" in response.content.decode()
    lockout.refresh_from_db()
    assert lockout.lifted_by == superuser and lockout.lifted_at is not None
    entry = LogEntry.objects.get(object_id=str(lockout.pk))
    assert (entry.user, entry.action_flag) == (superuser, CHANGE)
    assert entry.get_change_message() == LIFT_CHANGE_MESSAGE
    assert login(client, "gamemaster", PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(victim.pk)


def test_after_a_lift_failures_count_from_zero(
    client, superuser, django_capture_on_commit_callbacks
):
    from access.throttle import lift_login_lockouts

    fail(client, "nobody", 10)
    with django_capture_on_commit_callbacks(execute=True):
        lift_login_lockouts(lockouts=LoginLockout.objects.all(), lifted_by=superuser)

    fail(client, "nobody", 9)  # would be refused (429) were the old count kept
    fail(client, "nobody", 1)
    assert login(client, "nobody", WRONG).status_code == 429
    assert LoginLockout.objects.filter(lifted_at__isnull=True).count() == 1


def test_staff_without_the_lift_permission_cannot_lift(
    client, superuser, django_capture_on_commit_callbacks
):
    viewer = staff_user("viewer", perms=["access.view_loginlockout"])
    fail(client, "root", 10)
    lockout = LoginLockout.objects.get()
    client.force_login(viewer)

    page = client.get(CHANGELIST_URL)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(CHANGELIST_URL, {"action": "lift_selected", "_selected_action": [lockout.pk]})

    assert page.status_code == 200 and "root" in page.content.decode()
    assert "Lift selected lockouts" not in page.content.decode()
    lockout.refresh_from_db()
    assert lockout.lifted_at is None
    assert not LogEntry.objects.exists()
    client.logout()
    assert login(client, "root", PASSWORD).status_code == 429


def test_staff_with_the_lift_permission_may_lift(
    client, superuser, django_capture_on_commit_callbacks
):
    lifter = staff_user("lifter", perms=["access.view_loginlockout", "access.lift_loginlockout"])
    fail(client, "root", 10)
    client.force_login(lifter)

    assert "Lift selected lockouts" in client.get(CHANGELIST_URL).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            CHANGELIST_URL,
            {"action": "lift_selected", "_selected_action": [LoginLockout.objects.get().pk]},
        )

    assert LoginLockout.objects.get().lifted_by == lifter


def test_a_cache_outage_refuses_logins_with_503_not_500(client, superuser, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr("access.throttle.get_usage", down)

    response = login(client, "root", PASSWORD)

    assert response.status_code == 503
    assert LOGIN_THROTTLE_UNAVAILABLE in response.content.decode()
    assert not logged_in(client)


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_the_lockout_counts_in_redis_when_redis_is_the_cache(client, superuser, settings):
    # Redis runs on every machine of this project (CI starts it): no answer is a failure.
    assert redis_answers(), "no Redis at 127.0.0.1:6379: start it (see .ci/run)"
    settings.CACHES = {
        "default": {
            "BACKEND": "pipeworks.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pipeworks",
        }
    }
    caches["default"].clear()
    try:
        fail(client, "root", 10)
        assert login(client, "root", PASSWORD).status_code == 429
        assert caches["default"]._cache.get_client().dbsize() > 0
    finally:
        caches["default"].clear()

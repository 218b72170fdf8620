"""Management commands that write end a database failure with what is known.

Exit status 75 and "nothing was written" when the failure came before the COMMIT; 3 and
"may or may not have been saved" when the connection was lost during it (PostgreSQL).
"""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError

from access.models import ApiKey
from pipeworks.commands import EXIT_DATABASE_FAILED, EXIT_OUTCOME_UNKNOWN
from tests.conftest import table_state
from tests.factories import UserFactory
from tests.faults import failing_commit
from worlds.services import sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("synced")]


def broken(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


def change_policy(worlds_dir) -> None:
    path = worlds_dir / "alpha" / "policies" / "axes.yaml"
    path.write_text(path.read_text().replace("default: 0.8", "default: 0.7"))


def test_a_sync_failing_before_commit_exits_75_and_wrote_nothing(monkeypatch, worlds_dir):
    change_policy(worlds_dir)
    monkeypatch.setattr(sync, "_carry_out", broken)
    before = table_state()

    with pytest.raises(CommandError) as excinfo:
        call_command("sync_policies", "alpha")

    assert excinfo.value.returncode == EXIT_DATABASE_FAILED
    assert str(excinfo.value) == (
        "the database failed (OperationalError: server closed the connection unexpectedly); "
        "what it committed before the failure stays, the rest was rolled back. Run it again: "
        "a sync converges to the files."
    )
    assert table_state() == before


@pytest.mark.postgres
@pytest.mark.parametrize("reaches_server", [True, False], ids=["committed", "not committed"])
def test_a_sync_lost_at_commit_exits_3_and_says_the_outcome_is_unknown(worlds_dir, reaches_server):
    change_policy(worlds_dir)

    with failing_commit(reaches_server=reaches_server, after=(sync, "_plan_and_carry_out")):
        with pytest.raises(CommandError) as excinfo:
            call_command("sync_policies", "alpha")

    assert excinfo.value.returncode == EXIT_OUTCOME_UNKNOWN
    assert "may or may not have been saved" in str(excinfo.value)
    assert str(excinfo.value).endswith(
        "Run it again: a sync converges to the files whatever was saved."
    )
    # And running it again converges, whichever way the COMMIT went.
    call_command("sync_policies", "alpha", verbosity=0)
    from worlds.models import World

    assert (
        World.objects.get(pk="alpha").policy_hash
        == sync.load_world_policy(worlds_dir / "alpha", "alpha").policy_hash
    )


@pytest.mark.sqlite
def test_on_sqlite_a_failed_sync_commit_exits_75_and_wrote_nothing(worlds_dir):
    change_policy(worlds_dir)
    before = table_state()

    with failing_commit(reaches_server=False, after=(sync, "_plan_and_carry_out")):
        with pytest.raises(CommandError) as excinfo:
            call_command("sync_policies", "alpha")

    assert excinfo.value.returncode == EXIT_DATABASE_FAILED
    assert table_state() == before


@pytest.mark.postgres
def test_an_api_key_lost_at_commit_tells_how_to_clean_up(capsys):
    UserFactory(username="svc", is_staff=True)

    with failing_commit(reaches_server=True, after=None):
        with pytest.raises(CommandError) as excinfo:
            call_command("create_api_key", "--owner", "svc", "--name", "game server")

    assert excinfo.value.returncode == EXIT_OUTCOME_UNKNOWN
    assert "revoke the owner's keys of this name" in str(excinfo.value)
    assert "svc" not in capsys.readouterr().out  # no secret printed for a key in doubt
    assert ApiKey.objects.filter(name="game server").count() == 1

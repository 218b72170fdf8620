import getpass
import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ledger.models import Event, EventEntityAxisDelta, EventMetadata
from ledger.services import apply_event
from ledger.verification import verify_ledger
from worlds.models import Character, World

pytestmark = pytest.mark.usefixtures("synced")


@pytest.fixture(autouse=True)
def debug(settings):
    """Run the command as a developer does: the test runner turns DEBUG off, which
    generate_ledger refuses (tests/test_security.py tests that refusal)."""
    settings.DEBUG = True


def summary(characters: int, events: int, deltas: int) -> str:
    """The pattern of the command's one output line; only the elapsed time varies."""
    counts = f"generated {characters:,} characters, {events:,} events, {deltas:,} deltas in "
    return re.escape(counts) + r"\d+\.\d s\n"


def test_generated_ledger_verifies_and_takes_new_events(monkeypatch):
    monkeypatch.setattr("ledger.generator.BATCH_SIZE", 50)  # several flushes
    out = io.StringIO()

    call_command(
        "generate_ledger", "--world", "alpha", "--characters", "20", "--events", "300", stdout=out
    )

    assert re.fullmatch(summary(20, 300, EventEntityAxisDelta.objects.count()), out.getvalue())
    assert Character.objects.filter(world="alpha").count() == 20
    assert Event.objects.count() == 300
    assert EventMetadata.objects.count() == 280  # every non-genesis event
    # Provenance as the product records it: creations by the system, the rest by the
    # command and its OS user, under the world's policy.
    assert set(Event.objects.values_list("source", "actor_name")) == {
        ("system", "system"),
        ("command", f"manage.py generate_ledger (os user {getpass.getuser()})"),
    }
    assert set(Event.objects.values_list("policy_hash", flat=True)) == {
        World.objects.get(pk="alpha").policy_hash
    }
    result = verify_ledger()
    assert result.clean, [str(d) for d in result.discrepancies[:5]]
    # The id sequences continue after the explicit ids the generator used.
    character = Character.objects.first()
    event = apply_event(world_id="alpha", event_type="tick", deltas={character.pk: {"wealth": 0.1}})
    assert event.pk == 301
    assert verify_ledger().clean


def test_generate_ledger_is_reproducible_and_appends():
    call_command(
        "generate_ledger",
        "--world",
        "alpha",
        "--characters",
        "3",
        "--events",
        "30",
        "--seed",
        "5",
        stdout=io.StringIO(),
    )
    call_command(
        "generate_ledger",
        "--world",
        "alpha",
        "--characters",
        "3",
        "--events",
        "30",
        "--seed",
        "5",
        stdout=io.StringIO(),
    )

    assert Character.objects.count() == 6
    assert verify_ledger().clean


def test_generate_ledger_existing_grows_the_histories_of_existing_characters(monkeypatch):
    monkeypatch.setattr("ledger.generator.BATCH_SIZE", 40)  # several flushes
    call_command(
        "generate_ledger",
        "--world",
        "alpha",
        "--characters",
        "10",
        "--events",
        "50",
        stdout=io.StringIO(),
    )
    seeds = dict(Character.objects.values_list("pk", "state_seed"))
    deltas_before = EventEntityAxisDelta.objects.count()
    out = io.StringIO()

    call_command(
        "generate_ledger",
        "--world",
        "alpha",
        "--existing",
        "--events",
        "200",
        "--seed",
        "3",
        stdout=out,
    )

    added = EventEntityAxisDelta.objects.count() - deltas_before
    assert re.fullmatch(summary(0, 200, added), out.getvalue())
    assert Character.objects.count() == 10
    assert Event.objects.count() == 250
    assert EventMetadata.objects.count() == 240  # every non-genesis event
    grown = dict(Character.objects.values_list("pk", "state_seed"))
    assert sum(grown.values()) - sum(seeds.values()) >= 200  # one per character touched
    assert all(grown[pk] >= seeds[pk] for pk in seeds)
    timestamps = list(Event.objects.order_by("id").values_list("timestamp", flat=True))
    assert timestamps == sorted(timestamps)
    result = verify_ledger()
    assert result.clean, [str(d) for d in result.discrepancies[:5]]
    character = Character.objects.first()
    event = apply_event(world_id="alpha", event_type="tick", deltas={character.pk: {"wealth": 0.1}})
    assert event.pk == 251
    assert verify_ledger().clean


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--world", "alpha", "--existing", "--events", "5"],
            "world 'alpha' has no characters to add events to",
        ),
        (
            ["--world", "alpha", "--existing", "--characters", "2"],
            "--existing adds events to existing characters; omit --characters",
        ),
        (
            ["--world", "alpha", "--existing", "--span-days", "7"],
            "span spreads a new ledger; existing events follow the last one",
        ),
    ],
)
def test_generate_ledger_existing_refuses(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("generate_ledger", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--world", "gamma"], "world 'gamma' is not synced"),
        (
            ["--world", "alpha", "--characters", "10", "--events", "5"],
            "events must be at least characters (one genesis event each)",
        ),
        (["--world", "alpha", "--characters", "0"], "--characters and --events must be positive"),
        (["--world", "alpha", "--span-days", "0"], "--span-days must be positive"),
    ],
)
def test_generate_ledger_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("generate_ledger", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not Event.objects.exists()


def test_generated_characters_record_the_policy_their_snapshots_were_derived_with():
    from ledger.generator import generate_ledger
    from worlds.models import World

    generate_ledger(world_id="alpha", characters=5, events=40)
    # A snapshot of another policy (as after a hand edit): growing the ledger re-derives it.
    Character.objects.filter(world="alpha").update(state_version="another policy")
    generate_ledger(world_id="alpha", characters=0, events=200, existing=True)

    policy_hash = World.objects.get(pk="alpha").policy_hash
    for character in Character.objects.filter(world="alpha"):
        assert (character.state_version, character.snapshot_stale) == (policy_hash, False)
        assert character.base_state_json["seed"] == 0
        assert character.current_state_json["seed"] == character.state_seed
        assert character.current_state_json["policy_hash"] == policy_hash


def test_span_days_spreads_the_recorded_times_evenly_up_to_now():
    started = timezone.now()
    call_command(
        "generate_ledger",
        *("--world", "alpha", "--characters", "50", "--events", "1000", "--span-days", "10"),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )

    times = list(Event.objects.order_by("id").values_list("timestamp", flat=True))
    assert len(times) == 1000
    assert times == sorted(times)
    assert started - timedelta(days=10) < times[0] < started - timedelta(days=9.98)
    assert times[-1] >= started
    # Evenly spread: the last 7 days hold 70% of them.
    last_week = [moment for moment in times if moment >= times[-1] - timedelta(days=7)]
    assert 698 <= len(last_week) <= 702

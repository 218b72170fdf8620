"""Drift: the rules synced from axes.yaml, the clocks, and runs written as ``drift`` events."""

import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from axes.models import Axis, CharacterAxisScore
from axes.scoring import apply_delta
from ledger.exceptions import LedgerError
from ledger.models import DriftClock, DriftState, Event, EventEntityAxisDelta, Source
from ledger.provenance import _os_user as os_user
from ledger.selectors import get_character_state_as_of
from ledger.services import apply_event, drift
from ledger.services.drift import apply_drift, drift_score, pause_drift, periods_for, resume_drift
from ledger.verification import verify_ledger
from tests.conftest import table_state
from tests.factories import CharacterFactory
from worlds.models import Character
from worlds.policies import Drift
from worlds.services import sync_world_policies

HOUR = timedelta(hours=1)


def set_drift(worlds_dir, axis: str, rule: str | None) -> None:
    """Give ``axis`` of world alpha the drift ``rule`` (None: remove it), and sync."""
    path = worlds_dir / "alpha" / "policies" / "axes.yaml"
    lines = [
        line
        for line in path.read_text().splitlines()
        if "drift: " not in line or f"# {axis}" not in line
    ]
    text = "\n".join(lines) + "\n"
    marker = f"  {axis}:\n"
    assert marker in text
    if rule is not None:
        text = text.replace(marker, f"{marker}    drift: {rule}  # {axis}\n")
    path.write_text(text)
    sync_world_policies(world_ids=["alpha"])


def rewind(hours: float, *, world_id: str = "alpha") -> None:
    """Move the world's clocks and characters back, as if ``hours`` had passed."""
    back = timedelta(hours=hours)
    for clock in DriftClock.objects.filter(world_id=world_id):
        clock.applied_until -= back
        clock.started_at -= back
        clock.save()
    for character in Character.objects.filter(world_id=world_id):
        Character.objects.filter(pk=character.pk).update(created_at=character.created_at - back * 2)


def score(character, axis: str) -> float:
    return CharacterAxisScore.objects.get(character=character, axis__name=axis).axis_score


@pytest.fixture
def drifting(synced, worlds_dir):
    """World alpha with luck drifting +0.001 an hour, and a character at luck 0.3."""
    hero = CharacterFactory(scores={"luck": 0.3, "health": 0.8})
    set_drift(worlds_dir, "luck", "{ rate: 0.001, every: 1h }")
    return hero


# The arithmetic --------------------------------------------------------------------------


def one_by_one(score: float, rule: Drift, periods: int) -> float:
    for _ in range(periods):
        if rule.toward is None:
            score = apply_delta(score, rule.rate)[0]
        else:
            gap = rule.toward - score
            step = min(abs(rule.rate), abs(gap))
            score = apply_delta(score, step if gap > 0 else -step)[0]
    return score


def test_720_periods_at_once_equal_the_periods_one_by_one():
    rule = Drift(0.001, 3600)

    assert drift_score(0.3, rule, 720) == (1.0, 0.72) == (one_by_one(0.3, rule, 720), 0.72)
    assert drift_score(0.3, rule, 500) == (0.8, 0.5)
    assert drift_score(0.1, Drift(-0.001, 3600), 720) == (0.0, -0.72)


@pytest.mark.parametrize("start", [0.1, 0.9, 0.5])
def test_toward_stops_at_the_target_from_either_side(start):
    rule = Drift(0.02, 86_400, 0.5)

    new, requested = drift_score(start, rule, 100)

    assert new == 0.5 == one_by_one(start, rule, 100)
    assert requested == round(0.5 - start, 6)
    assert drift_score(0.3, rule, 3) == (0.36, 0.06)
    assert drift_score(0.7, rule, 3) == (0.64, -0.06)


def test_any_number_of_periods_at_once_equals_one_by_one():
    rng = random.Random(11)
    for _ in range(300):
        rule = Drift(
            rng.choice([-1, 1]) * rng.randrange(1, 50_000) / 1e6,
            3600,
            rng.choice([None, rng.randrange(0, 1_000_001) / 1e6]),
        )
        start, periods = rng.randrange(0, 1_000_001) / 1e6, rng.randrange(1, 200)
        assert drift_score(start, rule, periods)[0] == one_by_one(start, rule, periods)


def test_a_character_drifts_for_the_periods_that_begin_after_its_creation():
    start = timezone.now()

    assert periods_for(start - HOUR, start, 3600, 5) == 5
    assert periods_for(start, start, 3600, 5) == 5
    assert periods_for(start + HOUR / 2, start, 3600, 5) == 4  # created mid-period
    assert periods_for(start + HOUR, start, 3600, 5) == 4  # created on a boundary
    assert periods_for(start + 10 * HOUR, start, 3600, 5) == 0


# The registry and the clocks ---------------------------------------------------------------


def test_sync_mirrors_the_rule_and_starts_the_clock(drifting):
    axis = Axis.objects.get(world_id="alpha", name="luck")
    clock = DriftClock.objects.get(axis=axis)

    assert axis.drift == Drift(0.001, 3600)
    assert clock.applied_until == clock.started_at
    assert timezone.now() - clock.started_at < timedelta(minutes=1)
    # A run right away has nothing due.
    assert apply_drift(world_id="alpha").deltas == 0


def test_removing_the_rule_or_retiring_the_axis_stops_its_clock(drifting, worlds_dir):
    set_drift(worlds_dir, "luck", None)
    assert not DriftClock.objects.exists()
    assert Axis.objects.get(world_id="alpha", name="luck").drift is None

    set_drift(worlds_dir, "luck", "{ rate: 0.001, every: 1h }")
    assert DriftClock.objects.count() == 1


# Runs -----------------------------------------------------------------------------------


def test_a_run_writes_one_drift_event_per_axis_and_moves_the_clock(drifting):
    rewind(3.5)
    clock = DriftClock.objects.get()
    start = clock.applied_until
    seed = Character.objects.get(pk=drifting.pk).state_seed

    run = apply_drift(world_id="alpha")

    event = Event.objects.get(event_type__name="drift")
    assert [a.as_dict()["periods"] for a in run.axes] == [3]
    assert dict(event.metadata_entries.values_list("key", "value")) == {
        "axis": "luck",
        "from": start.isoformat(),
        "to": (start + 3 * HOUR).isoformat(),
        "periods": "3",
        "rule": "+0.001 every 1h",
    }
    assert event.source == Source.COMMAND
    assert event.occurred_at == start + 3 * HOUR
    assert list(event.deltas.values_list("character_id", "old_score", "new_score", "delta")) == [
        (drifting.pk, 0.3, 0.303, 0.003)
    ]
    assert DriftClock.objects.get().applied_until == start + 3 * HOUR
    character = Character.objects.get(pk=drifting.pk)
    assert character.state_seed == seed + 1
    assert character.current_state_json["axes"]["luck"]["score"] == 0.303
    assert verify_ledger().clean


def test_a_second_run_with_nothing_due_writes_nothing(drifting):
    rewind(2)
    apply_drift(world_id="alpha")
    before = table_state()

    run = apply_drift(world_id="alpha")

    assert run.axes == [] and run.deltas == 0
    assert table_state() == before


def test_a_month_of_missed_hourly_runs_is_one_delta_per_character(drifting):
    other = CharacterFactory(scores={"luck": 0.9})
    rewind(24 * 30)

    apply_drift(world_id="alpha")

    rows = EventEntityAxisDelta.objects.filter(event__event_type__name="drift")
    assert rows.count() == 2
    assert score(drifting, "luck") == 1.0  # 0.3 + 0.72, clamped
    assert rows.get(character=other).requested_delta == 0.72
    assert rows.get(character=other).delta == 0.1


def test_a_character_created_after_the_clock_started_drifts_from_the_next_period(drifting):
    rewind(5)
    start = DriftClock.objects.get().applied_until
    newcomer = CharacterFactory(scores={"luck": 0.5})
    Character.objects.filter(pk=newcomer.pk).update(created_at=start + 2.5 * HOUR)

    apply_drift(world_id="alpha")

    assert score(drifting, "luck") == 0.305
    assert score(newcomer, "luck") == 0.502  # periods 3 and 4 of 0..4


def test_toward_stops_and_an_unchanged_score_writes_no_delta(synced, worlds_dir):
    at_target = CharacterFactory(scores={"health": 0.5})
    below = CharacterFactory(scores={"health": 0.45})
    set_drift(worlds_dir, "health", "{ rate: 0.02, every: 1h, toward: 0.5 }")
    rewind(10)

    apply_drift(world_id="alpha")

    assert score(below, "health") == 0.5
    assert not EventEntityAxisDelta.objects.filter(
        character=at_target, event__event_type__name="drift"
    ).exists()
    assert verify_ledger().clean


def test_until_before_the_clock_is_a_no_op_and_a_future_until_is_refused(drifting):
    before = table_state()

    assert apply_drift(world_id="alpha", until=timezone.now() - 10 * HOUR).deltas == 0
    with pytest.raises(LedgerError) as excinfo:
        apply_drift(world_id="alpha", until=timezone.now() + HOUR)

    assert excinfo.value.code == "until_in_future"
    assert excinfo.value.field == "until"
    assert table_state() == before


def test_a_dry_run_says_what_would_change_and_writes_nothing(drifting):
    rewind(4)
    before = table_state()
    clock = DriftClock.objects.get().applied_until

    run = apply_drift(world_id="alpha", dry_run=True)

    assert (run.dry_run, run.deltas, run.axes[0].periods) == (True, 1, 4)
    assert table_state() == before
    assert DriftClock.objects.get().applied_until == clock


def test_a_retired_axis_does_not_drift(drifting, worlds_dir):
    rewind(3)
    path = worlds_dir / "alpha" / "policies" / "axes.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("  luck:")])  # luck is the last axis: drop it
    sync_world_policies(world_ids=["alpha"])
    # Retiring is a rule change: the sync applied the three periods due before it.
    assert score(drifting, "luck") == 0.303
    rewind(3)

    run = apply_drift(world_id="alpha")

    assert run.deltas == 0
    assert score(drifting, "luck") == 0.303


def test_a_rule_change_applies_from_the_sync(drifting, worlds_dir):
    rewind(3)

    set_drift(worlds_dir, "luck", "{ rate: 0.01, every: 1h }")

    # The sync first applied the three periods due under the old rule ...
    assert score(drifting, "luck") == 0.303
    rewind(2)  # ... and two more hours pass under the new one.
    apply_drift(world_id="alpha")
    assert score(drifting, "luck") == 0.323


# Chunks, crashes, pauses -------------------------------------------------------------------


def crash_in_the_second_chunk(monkeypatch):
    """Run drift until its second chunk raises, as a killed run; return the real chunk."""
    original, calls = drift._apply_chunk, []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(drift, "_apply_chunk", crashing)
    with pytest.raises(RuntimeError):
        apply_drift(world_id="alpha")
    return original


def test_a_big_world_is_done_in_chunks_and_a_crashed_run_resumes(drifting, settings, monkeypatch):
    settings.PIPEWORKS_DRIFT_CHUNK = 2
    others = [CharacterFactory(scores={"luck": 0.5}) for _ in range(4)]
    rewind(2)
    original = crash_in_the_second_chunk(monkeypatch)
    assert (
        DriftState.objects.get(world_id="alpha").run_after
        == sorted([drifting.pk, *(o.pk for o in others)])[1]
    )
    done = EventEntityAxisDelta.objects.filter(event__event_type__name="drift").count()
    assert done == 2  # the first chunk was committed, the second rolled back
    monkeypatch.setattr(drift, "_apply_chunk", original)

    apply_drift(world_id="alpha")

    rows = EventEntityAxisDelta.objects.filter(event__event_type__name="drift")
    assert rows.count() == 5
    assert sorted(rows.values_list("character_id", flat=True)) == sorted(
        [drifting.pk, *(other.pk for other in others)]
    )
    assert all(score(other, "luck") == 0.502 for other in others)
    assert DriftState.objects.get(world_id="alpha").run_plan is None
    assert verify_ledger().clean


def test_a_paused_world_does_not_drift_and_skips_the_paused_periods(drifting):
    rewind(2)
    pause_drift(world_id="alpha", actor=None)  # applies the two due periods first
    assert score(drifting, "luck") == 0.302
    state = DriftState.objects.get(world_id="alpha")
    assert state.paused_at is not None
    assert state.paused_by.endswith(f"(os user {os_user()})")

    rewind(5)  # five hours pass while paused
    assert apply_drift(world_id="alpha").paused is True
    assert score(drifting, "luck") == 0.302

    assert resume_drift(world_id="alpha") is True
    assert apply_drift(world_id="alpha").deltas == 0  # the paused hours are skipped
    rewind(1)
    apply_drift(world_id="alpha")
    assert score(drifting, "luck") == 0.303
    assert resume_drift(world_id="alpha") is False


def test_drift_deltas_are_ordinary_for_rebuild_and_as_of_reads(drifting):
    rewind(3)
    loot = apply_event(world_id="alpha", event_type="loot", deltas={drifting.pk: {"luck": 0.1}})
    [run] = apply_drift(world_id="alpha").axes
    later = apply_event(world_id="alpha", event_type="loot", deltas={drifting.pk: {"luck": 0.1}})

    call_command("rebuild_scores", "alpha", verbosity=0)

    assert score(drifting, "luck") == 0.503
    assert verify_ledger().clean

    def luck_as_of(event_id):
        axes = get_character_state_as_of(drifting, event_id)
        return next(axis.axis_score for axis in axes if axis.axis_name == "luck")

    assert [luck_as_of(e) for e in (loot.pk, run.events[0], later.pk)] == [0.4, 0.403, 0.503]


# The command ------------------------------------------------------------------------------


def test_the_command_reports_what_it_did_and_refuses_bad_arguments(drifting, capsys):
    rewind(2)

    call_command("apply_drift", "alpha")
    out = capsys.readouterr().out
    call_command("apply_drift", "alpha")
    again = capsys.readouterr().out

    assert "alpha: drifted luck (+0.001 every 1h) by 2 period(s)" in out
    assert "1 character(s) changed" in out
    assert again.startswith("alpha: nothing due up to")
    with pytest.raises(CommandError, match="unknown world"):
        call_command("apply_drift", "atlantis")
    with pytest.raises(CommandError, match="--until must be an ISO 8601"):
        call_command("apply_drift", "--until", "yesterday")
    with pytest.raises(CommandError, match="exclude each other"):
        call_command("apply_drift", "--pause", "--resume")


# Found in review ---------------------------------------------------------------------------


def test_an_until_a_little_ahead_applies_no_period_that_has_not_ended(synced, worlds_dir):
    hero = CharacterFactory(scores={"luck": 0.3})
    set_drift(worlds_dir, "luck", "{ rate: 0.001, every: 1m }")
    rewind(0.05)  # three minutes back

    apply_drift(world_id="alpha", until=timezone.now() + timedelta(seconds=250))

    assert DriftClock.objects.get().applied_until <= timezone.now()
    assert score(hero, "luck") == 0.303


def test_a_run_begun_before_a_pause_is_finished_and_never_moves_a_clock_back(
    drifting, settings, monkeypatch
):
    settings.PIPEWORKS_DRIFT_CHUNK = 1
    other = CharacterFactory(scores={"luck": 0.5})
    rewind(2)
    original = crash_in_the_second_chunk(monkeypatch)
    monkeypatch.setattr(drift, "_apply_chunk", original)
    # A pause lands while that run is unfinished (a cron run racing the pause).
    DriftState.objects.filter(world_id="alpha").update(paused_at=timezone.now())
    resume_drift(world_id="alpha")  # moves the clock forward past the run's end
    moved = DriftClock.objects.get().applied_until

    apply_drift(world_id="alpha")

    assert score(drifting, "luck") == 0.302 and score(other, "luck") == 0.502
    assert DriftClock.objects.get().applied_until == moved
    assert DriftState.objects.get(world_id="alpha").run_plan is None

"""`manage.py apply_drift`: bring worlds' drift up to now (or --until), or pause/resume it.

Safe to run from cron every minute: with nothing due it writes nothing and says so, and
concurrent runs take turns on each world (``ledger.services.drift``).
"""

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from ledger.exceptions import LedgerError
from ledger.services.drift import apply_drift, pause_drift, resume_drift
from pipeworks.commands import DatabaseFailureMixin
from worlds.models import World

APPLY_DRIFT_BAD_UNTIL = "--until must be an ISO 8601 date and time with a time zone, got {value!r}"
APPLY_DRIFT_UNKNOWN_WORLDS = "unknown world(s): {names}"
APPLY_DRIFT_PAUSE_AND_RESUME = "--pause and --resume exclude each other"


def parse_until(value: str) -> datetime:
    try:
        until = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(APPLY_DRIFT_BAD_UNTIL.format(value=value)) from None
    if until.tzinfo is None:
        raise CommandError(APPLY_DRIFT_BAD_UNTIL.format(value=value))
    return until


class Command(DatabaseFailureMixin, BaseCommand):
    transactions = "several"
    advice = "Run it again: it resumes where the failed chunk began and applies nothing twice."
    unknown_advice = advice
    help = (
        "Apply each world's drift (axes.yaml `drift:` rules) up to now or --until, as `drift` "
        "ledger events; with nothing due, write nothing. --pause applies what is due and "
        "stops a world's drift; --resume restarts it, skipping the periods that passed."
    )

    def add_arguments(self, parser):
        parser.add_argument("world_ids", nargs="*", help="Worlds to drift; default all.")
        parser.add_argument("--until", type=str, help="ISO 8601 instant; default now.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; write nothing."
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument("--pause", action="store_true", help="Pause the worlds' drift.")
        parser.add_argument("--resume", action="store_true", help="Resume the worlds' drift.")

    def handle(self, *args, world_ids, until, dry_run, format, pause, resume, **options):
        if pause and resume:
            raise CommandError(APPLY_DRIFT_PAUSE_AND_RESUME)
        until = parse_until(until) if until else None
        known = set(World.objects.values_list("world_id", flat=True))
        unknown = sorted(set(world_ids) - known)
        if unknown:
            raise CommandError(APPLY_DRIFT_UNKNOWN_WORLDS.format(names=", ".join(unknown)))
        results = []
        for world_id in world_ids or sorted(known):
            try:
                if resume:
                    resumed = resume_drift(world_id=world_id)
                    self.stdout.write(f"{world_id}: {'resumed' if resumed else 'not paused'}")
                    continue
                if pause:
                    run = pause_drift(world_id=world_id)
                else:
                    run = apply_drift(world_id=world_id, until=until, dry_run=dry_run)
            except LedgerError as exc:
                raise CommandError(exc.message) from exc
            results.append(run)
            if format == "text":
                self._report(run, paused_now=pause)
        if format == "json" and not resume:
            self.stdout.write(json.dumps([run.as_dict() for run in results], indent=2))

    def _report(self, run, *, paused_now: bool) -> None:
        verb = "would drift" if run.dry_run else "drifted"
        if run.paused and not paused_now:
            self.stdout.write(f"{run.world_id}: drift is paused; nothing written")
            return
        moved = [axis for axis in run.axes if axis.periods]
        if not moved:
            self.stdout.write(f"{run.world_id}: nothing due up to {run.until:%Y-%m-%d %H:%M:%S%z}")
        for axis in moved:
            self.stdout.write(
                f"{run.world_id}: {verb} {axis.axis} ({axis.rule}) by {axis.periods} period(s) "
                f"from {axis.start:%Y-%m-%d %H:%M:%S} to {axis.end:%Y-%m-%d %H:%M:%S}: "
                f"{axis.characters} character(s) changed"
            )
        if paused_now:
            self.stdout.write(f"{run.world_id}: paused")

"""`manage.py generate_ledger`: a large synthetic ledger for benchmarks."""

import time
from datetime import timedelta

from django.core.management.base import CommandError

from ledger.generator import generate_ledger
from pipeworks.commands import DatabaseFailureMixin, NotInProductionCommand

DEFAULT_CHARACTERS = 10_000


class Command(DatabaseFailureMixin, NotInProductionCommand):
    transactions = "several"
    advice = "Generate again into a fresh scratch database."
    unknown_advice = "Generate again into a fresh scratch database."
    help = (
        "Add generated characters and random events (genesis included) to a synced world, "
        "in bulk; with --existing, add random events to the world's existing characters. "
        "`verify_ledger` accepts the result. For benchmark databases only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--world", default="pipeworks_web", help="A synced world.")
        parser.add_argument(
            "--characters", type=int, help=f"Characters to create (default {DEFAULT_CHARACTERS})."
        )
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--seed", type=int, default=0, help="Random seed (reproducible).")
        parser.add_argument(
            "--span-days",
            type=float,
            help=(
                "Spread the events' recorded times evenly over this many days up to now "
                "(default: one second apart), e.g. so a 7-day window holds a known share."
            ),
        )
        parser.add_argument(
            "--existing",
            action="store_true",
            help="Add --events events to the existing characters; create none.",
        )

    def handle(self, *args, world, characters, events, seed, existing, span_days, **options):
        if existing and characters is not None:
            raise CommandError("--existing adds events to existing characters; omit --characters")
        if characters is None:
            characters = 0 if existing else DEFAULT_CHARACTERS
        if (characters < 1 and not existing) or events < 1:
            raise CommandError("--characters and --events must be positive")
        if span_days is not None and not span_days > 0:
            raise CommandError("--span-days must be positive")
        started = time.monotonic()

        def progress(done, total):
            if options["verbosity"] >= 1:
                self.stderr.write(f"  {done:,}/{total:,} events")

        try:
            result = generate_ledger(
                world_id=world,
                characters=characters,
                events=events,
                seed=seed,
                progress=progress,
                existing=existing,
                span=None if span_days is None else timedelta(days=span_days),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"generated {result.characters:,} characters, {result.events:,} events, "
            f"{result.deltas:,} deltas in {time.monotonic() - started:.1f} s"
        )

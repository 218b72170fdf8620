"""`manage.py generate_ledger`: a large synthetic ledger for benchmarks."""

import time

from django.core.management.base import BaseCommand, CommandError

from ledger.generator import generate_ledger


class Command(BaseCommand):
    help = (
        "Add generated characters and random events (genesis included) to a synced world, "
        "in bulk; `verify_ledger` accepts the result. For benchmark databases only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--world", default="pipeworks_web", help="A synced world.")
        parser.add_argument("--characters", type=int, default=10_000)
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--seed", type=int, default=0, help="Random seed (reproducible).")

    def handle(self, *args, world, characters, events, seed, **options):
        if characters < 1 or events < 1:
            raise CommandError("--characters and --events must be positive")
        started = time.monotonic()

        def progress(done, total):
            if options["verbosity"] >= 1:
                self.stderr.write(f"  {done:,}/{total:,} events")

        try:
            result = generate_ledger(
                world_id=world, characters=characters, events=events, seed=seed, progress=progress
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"generated {result.characters:,} characters, {result.events:,} events, "
            f"{result.deltas:,} deltas in {time.monotonic() - started:.1f} s"
        )

"""`manage.py verify_ledger`: replay the ledger and report every discrepancy."""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from ledger.management.selection import check_selection
from ledger.verification import verify_ledger
from pipeworks.commands import DatabaseFailureMixin


class Command(DatabaseFailureMixin, BaseCommand):
    transactions = "one"
    advice = "It only reads; run it again."
    unknown_advice = "It only reads; run it again."
    help = (
        "Replay the ledger in event order and check every old -> new chain, clamp and "
        "applied delta, the stored scores and the snapshots. Exits 1 on any discrepancy."
    )

    def add_arguments(self, parser):
        parser.add_argument("world_ids", nargs="*", help="Worlds to verify; default all.")
        parser.add_argument("--character", type=int, help="Verify only this character id.")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, world_ids, character, format, **options):
        check_selection(world_ids, character)
        started = time.monotonic()

        def progress(done, total):
            if format == "text" and options["verbosity"] >= 1 and total >= 100_000:
                self.stderr.write(f"  {done:,}/{total:,} deltas replayed")

        result = verify_ledger(
            world_ids=world_ids or None, character_id=character, progress=progress
        )
        elapsed = time.monotonic() - started
        if format == "json":
            payload = {
                "clean": result.clean,
                "deltas": result.deltas,
                "events": result.events,
                "characters": result.characters,
                "scores": result.scores,
                "discrepancy_count": result.discrepancy_count,
                "discrepancies": [d.as_dict() for d in result.discrepancies],
                "seconds": round(elapsed, 3),
            }
            self.stdout.write(json.dumps(payload, indent=2, default=str))
        else:
            for discrepancy in result.discrepancies:
                self.stdout.write(str(discrepancy))
            if result.discrepancy_count > len(result.discrepancies):
                hidden = result.discrepancy_count - len(result.discrepancies)
                self.stdout.write(f"... and {hidden} more")
            style = self.style.SUCCESS if result.clean else self.style.ERROR
            self.stdout.write(style(f"{result.summary()} ({elapsed:.1f} s)"))
        if not result.clean:
            raise CommandError("the ledger does not verify", returncode=1)

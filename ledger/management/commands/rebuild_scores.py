"""`manage.py rebuild_scores`: re-fold the ledger into the score table and snapshots."""

from django.core.management.base import BaseCommand

from ledger.management.selection import check_selection
from ledger.services import rebuild_scores
from pipeworks.commands import DatabaseFailureMixin


class Command(DatabaseFailureMixin, BaseCommand):
    transactions = "one"
    advice = "Run it again."
    unknown_advice = "Run it again: a rebuild converges to the ledger whatever was saved."
    help = (
        "Set every score to the new_score of its latest ledger delta and re-derive the "
        "snapshots: the repair after scores were edited by hand. Never touches the ledger."
    )

    def add_arguments(self, parser):
        parser.add_argument("world_ids", nargs="*", help="Worlds to rebuild; default all.")
        parser.add_argument("--character", type=int, help="Rebuild only this character id.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change.")

    def handle(self, *args, world_ids, character, dry_run, **options):
        check_selection(world_ids, character)
        result = rebuild_scores(
            world_ids=world_ids or None, character_id=character, dry_run=dry_run
        )
        for char_id, axis, stored, ledger in result.fixed:
            was = "missing" if stored is None else stored
            self.stdout.write(f"character {char_id} {axis}: {was} -> {ledger}")
        verb = "would fix" if dry_run else "fixed"
        self.stdout.write(f"{verb} {len(result.fixed)} score(s)")
        if dry_run:
            self.stdout.write("dry run: nothing was written")
        else:
            self.stdout.write(f"re-derived {result.snapshots} snapshot(s)")

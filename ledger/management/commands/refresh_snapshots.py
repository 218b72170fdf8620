"""`manage.py refresh_snapshots`: re-derive every character snapshot from scores + policy."""

from django.core.management.base import BaseCommand, CommandError

from ledger.services import refresh_snapshots
from pipeworks.commands import DatabaseFailureMixin
from worlds.models import World


class Command(DatabaseFailureMixin, BaseCommand):
    transactions = "several"
    advice = "Run it again: snapshots are derived, refreshing one twice is harmless."
    unknown_advice = "Run it again: snapshots are derived, refreshing one twice is harmless."
    help = "Re-derive current_state_json of every character from its scores and the registry."

    def add_arguments(self, parser):
        parser.add_argument("world_ids", nargs="*", help="Worlds to refresh; default all.")

    def handle(self, *args, world_ids, **options):
        worlds = list(World.objects.order_by("world_id"))
        if world_ids:
            known = {world.world_id for world in worlds}
            unknown = sorted(set(world_ids) - known)
            if unknown:
                raise CommandError(f"unknown world(s): {', '.join(unknown)}")
            worlds = [world for world in worlds if world.world_id in world_ids]

        def progress(world_id, done, total):
            if options["verbosity"] >= 2 or total >= 1000:
                self.stderr.write(f"  {world_id}: {done}/{total}")

        for world in worlds:
            count = refresh_snapshots(world=world, progress=progress)
            self.stdout.write(f"{world.world_id}: refreshed {count} snapshot(s)")

"""`manage.py sync_policies`: mirror the world policy files into the axis registry."""

import json

from django.core.management.base import BaseCommand, CommandError

from pipeworks.commands import DatabaseFailureMixin
from worlds.exceptions import PolicySyncError
from worlds.services import compute_policy_impact, sync_world_policies


class Command(DatabaseFailureMixin, BaseCommand):
    # The sync is one transaction, but drift due under a rule it changes is applied first,
    # in drift's own chunks.
    transactions = "several"
    advice = "Run it again: a sync converges to the files."
    unknown_advice = "Run it again: a sync converges to the files whatever was saved."
    help = (
        "Validate data/worlds/<world_id>/policies/*.yaml and mirror them into the axis "
        "registry. Writes nothing if any selected world has errors."
    )
    # The policy check would only repeat, less precisely, what this command reports.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("world_ids", nargs="*", help="Worlds to sync; default all.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; write nothing."
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, world_ids, dry_run, format, **options):
        verbosity = options["verbosity"]

        def progress(world_id, done, total):
            if verbosity >= 1 and format == "text" and total >= 1000:
                self.stderr.write(f"  {world_id}: snapshots {done}/{total}")

        try:
            result = sync_world_policies(world_ids=world_ids, dry_run=dry_run, progress=progress)
        except PolicySyncError as exc:
            if format == "json":
                payload = {
                    "ok": False,
                    "error": exc.message,
                    "reports": [report.as_dict() for report in exc.reports],
                }
                self.stdout.write(json.dumps(payload, indent=2))
            else:
                for report in exc.reports:
                    self.stderr.write(report.format_text())
            raise CommandError(exc.message) from exc

        # A dry run also says what the change would do to the characters (read only).
        impacts = {
            plan.world_id: compute_policy_impact(plan=plan) if dry_run else None
            for plan in result.plans
        }
        if format == "json":
            payload = {
                "ok": True,
                "dry_run": dry_run,
                "changed": result.changed,
                "worlds": [
                    {
                        "world_id": plan.world_id,
                        "changed": plan.changed,
                        "changes": plan.describe() if dry_run else plan.describe_done(),
                        "report": plan.report.as_dict(),
                        "impact": (
                            impacts[plan.world_id].as_dict() if impacts[plan.world_id] else None
                        ),
                    }
                    for plan in result.plans
                ],
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        for plan in result.plans:
            report = plan.report
            if not plan.changed:
                self.stdout.write(
                    f"{plan.world_id}: up to date (version {report.version}, "
                    f"hash {report.policy_hash[:12]}); nothing written"
                )
                continue
            verb = "would change" if dry_run else "synced"
            self.stdout.write(self.style.SUCCESS(f"{plan.world_id}: {verb}"))
            for line in plan.describe() if dry_run else plan.describe_done():
                self.stdout.write(f"  - {line}")
            impact = impacts[plan.world_id]
            if impact is not None:
                for line in impact.describe():
                    self.stdout.write(f"  {line}")
            if verbosity >= 2 or report.warnings:
                for issue in report.warnings:
                    self.stdout.write(self.style.WARNING(f"  warning: {issue}"))
        if dry_run:
            self.stdout.write("dry run: nothing was written")
        elif not result.changed:
            self.stdout.write("all worlds up to date; nothing written")

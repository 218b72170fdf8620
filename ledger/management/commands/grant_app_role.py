"""`manage.py grant_app_role`: the privileges of a PostgreSQL role that owns nothing."""

from django.core.management.base import BaseCommand, CommandError

from ledger.privileges import AppRoleError, check_app_role, grant_app_role, plan_app_role
from pipeworks.commands import DatabaseFailureMixin


class Command(DatabaseFailureMixin, BaseCommand):
    transactions = "one"
    advice = "Run it again."
    unknown_advice = "Run it again: granting converges whatever was saved."
    help = (
        "Print (or, with --execute, run) the GRANT statements that give an application role "
        "SELECT and INSERT only on the ledger tables and SELECT, INSERT, UPDATE, DELETE on "
        "the product's other tables. PostgreSQL only. Run it as the owner of the tables "
        "after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="The application role (the server's database user).")
        parser.add_argument(
            "--execute", action="store_true", help="Run the statements; default: print them."
        )
        parser.add_argument(
            "--database", default="default", help="Database alias (default: default)."
        )

    def handle(self, *args, role, execute, database, **options):
        try:
            if execute:
                plan = grant_app_role(role=role, using=database)
            else:
                plan = plan_app_role(role=role, using=database)
                problems = check_app_role(role=role, using=database)
        except AppRoleError as error:
            raise CommandError(str(error)) from error
        for table in plan.unmanaged_tables:
            self.stderr.write(f"left alone (not a table of the product): {table}")
        if execute:
            if options["verbosity"] >= 1:
                self.stdout.write(self.style.SUCCESS(f"granted {plan.summary()}"))
            return
        self.stdout.write(f"-- {plan.summary()}")
        self.stdout.write("-- run as the owner of the tables, after every migrate")
        for problem in problems:
            self.stdout.write(f"-- WARNING: {problem}")
        self.stdout.write("BEGIN;")
        for statement in plan.statements:
            self.stdout.write(f"{statement};")
        self.stdout.write("COMMIT;")

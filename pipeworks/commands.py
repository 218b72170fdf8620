"""What the project's management commands share: the guard of the demo and bench commands.

``load_demo`` and ``generate_ledger`` write made-up data (characters, events, a superuser
with a printed password); run against a production database by mistake, they would mix
it into the real ledger, which is append-only. They therefore refuse to run unless
``settings.DEBUG`` is on or the operator passes ``--i-know-this-is-not-production`` (the
benchmarks and the live-server tests do: they run with DEBUG off on scratch databases).

This module imports no app of the project.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

NOT_PRODUCTION_FLAG = "--i-know-this-is-not-production"
NOT_PRODUCTION_OPTION = "i_know_this_is_not_production"
COMMAND_REFUSED_IN_PRODUCTION = (
    "{command} writes demo or benchmark data and refuses to run with DEBUG off, which is "
    "how production runs; nothing was written. On a development or scratch database, set "
    f"DEBUG=1 or pass {NOT_PRODUCTION_FLAG}"
)


class NotInProductionMixin:
    """Refuse the command, before it writes anything, unless DEBUG is on or the flag given.

    Put it before ``BaseCommand`` in the bases. It adds the flag to the command's parser
    itself (``create_parser``), so the command's own ``add_arguments`` needs no call to
    ``super()``, and checks in ``execute``, before the system checks and ``handle``.
    """

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            NOT_PRODUCTION_FLAG,
            action="store_true",
            dest=NOT_PRODUCTION_OPTION,
            help="Run with DEBUG off: the database is a development or scratch one.",
        )
        return parser

    def execute(self, *args, **options):
        if not settings.DEBUG and not options.get(NOT_PRODUCTION_OPTION):
            name = self.__module__.rsplit(".", 1)[-1]
            raise CommandError(COMMAND_REFUSED_IN_PRODUCTION.format(command=name))
        return super().execute(*args, **options)


class NotInProductionCommand(NotInProductionMixin, BaseCommand):
    """A ``BaseCommand`` that writes demo or benchmark data: see ``NotInProductionMixin``."""

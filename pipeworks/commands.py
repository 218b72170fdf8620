"""What the project's management commands share: honest database failures, and the guard
of the demo and bench commands.

A command that writes ends a database failure with what is known, not a traceback
(``DatabaseFailureMixin``): exit status 75 (``EX_TEMPFAIL``) when the failure came before
the COMMIT, so the transaction rolled back and a new run is safe; 3 when the connection
was lost during the COMMIT, so the write may or may not have been saved
(``pipeworks.transactions``).

``load_demo`` and ``generate_ledger`` write made-up data (characters, events, a superuser
with a printed password); run against a production database by mistake, they would mix
it into the real ledger, which is append-only. They therefore refuse to run unless
``settings.DEBUG`` is on or the operator passes ``--i-know-this-is-not-production`` (the
benchmarks and the live-server tests do: they run with DEBUG off on scratch databases).

This module imports no app of the project.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

from pipeworks.transactions import OutcomeUnknown

EXIT_DATABASE_FAILED = 75  # sysexits' EX_TEMPFAIL: nothing was written, run it again
EXIT_OUTCOME_UNKNOWN = 3
COMMAND_DATABASE_FAILED = "the database failed ({error}); {written}. {advice}"

NOT_PRODUCTION_FLAG = "--i-know-this-is-not-production"
NOT_PRODUCTION_OPTION = "i_know_this_is_not_production"
COMMAND_REFUSED_IN_PRODUCTION = (
    "{command} writes demo or benchmark data and refuses to run with DEBUG off, which is "
    "how production runs; nothing was written. On a development or scratch database, set "
    f"DEBUG=1 or pass {NOT_PRODUCTION_FLAG}"
)


class DatabaseFailureMixin:
    """End a database failure with a ``CommandError`` saying what was written.

    Put it before ``BaseCommand`` in the bases. Only for commands whose writes run in
    ``atomic_commit`` blocks (else a lost COMMIT would pass for a failure before it).

    ``transactions`` says how the command writes: ``"one"`` (nothing was written when it
    failed) or ``"several"`` (what it committed before the failure stays). ``advice``
    tells the operator what to do next; ``unknown_advice`` what to do when the outcome is
    unknown.
    """

    transactions = "one"
    advice = "Run it again."
    unknown_advice = "Check what was saved before running it again."

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except OutcomeUnknown as exc:
            raise CommandError(
                f"{exc.message}. {self.unknown_advice}", returncode=EXIT_OUTCOME_UNKNOWN
            ) from exc
        except (OperationalError, InterfaceError) as exc:
            written = (
                "it was rolled back: nothing was written"
                if self.transactions == "one"
                else "what it committed before the failure stays, the rest was rolled back"
            )
            message = COMMAND_DATABASE_FAILED.format(
                error=_first_line(exc), written=written, advice=self.advice
            )
            raise CommandError(message, returncode=EXIT_DATABASE_FAILED) from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text.splitlines()[0]}" if text else name


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

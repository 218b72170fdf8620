"""Who caused an event, through which channel, for which HTTP request and game moment.

Every event records its provenance in the same row, once (``Event.actor_*``, ``source``,
``request_id``, ``occurred_at``). Callers of ``apply_event`` pass it as keyword
arguments; a call that passes none is a script or management command, and is recorded as
one, never as a blank.
"""

import getpass
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ledger.exceptions import ErrorLocation, LedgerError
from ledger.models import Source
from pipeworks.request_id import MAX_REQUEST_ID_LENGTH, is_sane_request_id

UNKNOWN = "unknown"
"""How events recorded before provenance existed read back (their columns are NULL)."""

SYSTEM_ACTOR_NAME = "system"
MAX_ACTOR_NAME_LENGTH = 300
DEFAULT_OCCURRED_AT_MAX_SKEW = timedelta(minutes=5)

PROVENANCE_BAD_SOURCE = "source must be one of {choices} (got {value!r})"
PROVENANCE_BAD_REQUEST_ID = (
    f"request_id must be printable text of 1-{MAX_REQUEST_ID_LENGTH} characters"
)
PROVENANCE_BAD_OCCURRED_AT = "occurred_at must be a date and time with a UTC offset (got {value!r})"
PROVENANCE_FUTURE_OCCURRED_AT = (
    "occurred_at {value} is more than {skew:g} seconds in the future of the server's clock"
)


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a user, an API key of an owner, a command run by an OS user,
    or the system.

    ``name`` is a copy made when the event is written, so the ledger still names the
    actor after the account is renamed or deleted; ``user_id`` links to the account
    while it exists.
    """

    name: str
    user_id: int | None = None
    key: str | None = None
    """The prefix of the API key the actor wrote with (the key, not a secret)."""

    @classmethod
    def of_user(cls, user) -> "Actor":
        """Return the actor for an authenticated Django user."""
        return cls(name=user.get_username()[:MAX_ACTOR_NAME_LENGTH], user_id=user.pk)

    @classmethod
    def command(cls, name: str | None = None) -> "Actor":
        """Return the actor for a management command (default: this process's) and OS user."""
        return cls(name=f"{name or _command_name()} (os user {_os_user()})")


SYSTEM = Actor(name=SYSTEM_ACTOR_NAME)


@dataclass(frozen=True)
class Provenance:
    """The provenance of one ``apply_event``/``apply_events`` call, checked."""

    actor: Actor
    source: str
    request_id: str | None = None


# ``Source.values`` builds a new list on every access; every ledger write asks.
_SOURCES = frozenset(Source.values)


def provenance_of(*, actor, source, request_id) -> Provenance:
    """Check and complete the provenance keyword arguments of a ledger write.

    Args:
        actor: An ``Actor``, a Django user, or None: the running command (or, with
            ``source="system"``, the system).
        source: One of ``Source``; None means ``system`` for the system actor, else
            ``command``.
        request_id: The HTTP request's id, or None.

    Raises:
        LedgerError: ``source`` or ``request_id`` is not acceptable (code ``invalid``).
    """
    if source is not None and source not in _SOURCES:
        raise LedgerError(
            PROVENANCE_BAD_SOURCE.format(choices=", ".join(Source.values), value=source),
            code="invalid",
            location=ErrorLocation(part="source"),
        )
    if actor is None:
        actor = SYSTEM if source == Source.SYSTEM else _this_process()
    elif not isinstance(actor, Actor):
        actor = Actor.of_user(actor)
    if source is None:
        source = Source.SYSTEM if actor == SYSTEM else Source.COMMAND
    if request_id is not None and not (
        isinstance(request_id, str) and is_sane_request_id(request_id)
    ):
        raise LedgerError(
            PROVENANCE_BAD_REQUEST_ID, code="invalid", location=ErrorLocation(part="request_id")
        )
    return Provenance(actor=actor, source=str(source), request_id=request_id)


def check_occurred_at(value, *, now: datetime) -> datetime | None:
    """Return the game time of an event, or refuse it.

    There is no lower bound: game time is the client's clock (a replayed season, a
    world that starts in 1200), and the ledger's order is ``event.id``, not this.

    Raises:
        LedgerError: Not an aware datetime, or further in the future than
            ``PIPEWORKS_OCCURRED_AT_MAX_SKEW`` (default 5 minutes) allows.
    """
    if value is None:
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise LedgerError(
            PROVENANCE_BAD_OCCURRED_AT.format(value=value),
            code="invalid",
            location=ErrorLocation(part="occurred_at"),
        )
    skew = max_occurred_at_skew()
    if value > now + skew:
        raise LedgerError(
            PROVENANCE_FUTURE_OCCURRED_AT.format(
                value=value.isoformat(), skew=skew.total_seconds()
            ),
            code="occurred_at_in_future",
            location=ErrorLocation(part="occurred_at"),
        )
    return value


def max_occurred_at_skew() -> timedelta:
    """Return how far in the future a client's ``occurred_at`` may be."""
    seconds = getattr(settings, "PIPEWORKS_OCCURRED_AT_MAX_SKEW", None)
    return DEFAULT_OCCURRED_AT_MAX_SKEW if seconds is None else timedelta(seconds=seconds)


@cache
def _this_process() -> Actor:
    """Return the command actor of this process: its arguments and user do not change."""
    return Actor.command()


def _command_name() -> str:
    """Return the management command (or program) this process runs, as typed."""
    path = Path(sys.argv[0] if sys.argv and sys.argv[0] else "python")
    program = path.parent.name if path.name == "__main__.py" else path.name  # python -m
    arguments = sys.argv[1:]
    if program in {"manage.py", "django-admin", "django"} and arguments:
        if not arguments[0].startswith("-"):
            return f"manage.py {arguments[0]}"
    return program


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no login name: a container's bare uid
        return f"uid {os.getuid()}"

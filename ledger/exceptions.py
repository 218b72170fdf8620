"""Errors raised by the ledger services."""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ErrorLocation:
    """Where in a ledger request the problem is, as separate parts.

    ``part`` is the top-level key of the request (``deltas``, ``metadata``,
    ``event_type``, ``idempotency_key``, ``world_id`` or ``events``); ``character_id`` and
    ``axis`` narrow a ``deltas`` problem, ``key`` a ``metadata`` one; ``event_index`` is
    the event's position in a batch. Callers translate these into their own request's
    terms (the API names list positions) without parsing a string.
    """

    part: str | None = None
    character_id: int | None = None
    axis: str | None = None
    key: str | None = None
    event_index: int | None = None

    @property
    def path(self) -> str | None:
        """Return the dotted path in ``apply_event``'s terms: ``deltas.42.wealth``."""
        parts: list[str] = []
        if self.event_index is not None:
            parts += ["events", str(self.event_index)]
        if self.part is not None:
            parts.append(self.part)
        for narrower in (self.character_id, self.axis, self.key):
            if narrower is not None:
                parts.append(str(narrower))
        return ".".join(parts) or None


class LedgerError(Exception):
    """A request the ledger refused; nothing was written.

    ``code`` is a stable machine-readable reason and ``location`` the offending part of
    the request, so an API can answer with a precise 4xx; ``field`` is that location as
    a dotted path (``deltas.42.wealth``).
    """

    def __init__(self, message: str, *, code: str, location: ErrorLocation | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.location = location or ErrorLocation()

    @property
    def field(self) -> str | None:
        return self.location.path

    def in_batch(self, index: int) -> "LedgerError":
        """Return this error as raised by event ``index`` of a batch."""
        return type(self)(
            f"event {index}: {self.message}",
            code=self.code,
            location=replace(self.location, event_index=index),
        )


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different request."""


class LedgerImmutableError(Exception):
    """Code tried to change or remove a ledger row; the ledger is append-only."""

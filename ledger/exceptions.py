"""Errors raised by the ledger services."""


class LedgerError(Exception):
    """A request the ledger refused; nothing was written.

    ``code`` is a stable machine-readable reason and ``field`` names the offending part
    of the request (``deltas.42.wealth``), so an API can answer with a precise 4xx.
    """

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different request."""


class LedgerImmutableError(Exception):
    """Code tried to change or remove a ledger row; the ledger is append-only."""

"""Transactions that tell a failure before COMMIT from one during it.

When a write fails, the caller must learn one of two different things:

- the failure happened **before COMMIT was sent**: the database rolled the transaction
  back, nothing was written, and a retry is safe;
- the connection was lost **during COMMIT**: the server may have committed and died
  before answering, or never received the COMMIT. Nobody can know from the client side;
  only a retry carrying the same idempotency key is safe (exactly once).

``atomic_commit()`` is ``transaction.atomic()`` that raises ``OutcomeUnknown`` in the
second case and lets every other ``DatabaseError`` through, so a caller that catches
``DatabaseError`` may truthfully say "nothing was written". It only commits when it is
the outermost block; nested in a caller's transaction it is a savepoint, and the caller's
own ``atomic_commit`` (if any) classifies the final COMMIT.

Which COMMIT failures still mean "rolled back for sure":

- on SQLite (in-process, no connection to lose) any: a COMMIT that returns an error has
  not committed (``database is locked`` leaves the transaction open; Django then rolls
  it back);
- on PostgreSQL, the server refusing the COMMIT with an integrity error (class 23: a
  deferred constraint) or a transaction rollback (class 40: serialization failure,
  deadlock). Anything else at COMMIT (a lost connection, the server shutting down or
  crashing, class 08 or 57) is unknown: a crashing server may flush the commit record
  and die before answering.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

# SQLSTATE classes of a COMMIT the server refused, which it therefore rolled back.
ROLLED_BACK_SQLSTATE_CLASSES = frozenset({"23", "40"})


class OutcomeUnknown(Exception):
    """The connection was lost during COMMIT: the write may or may not have happened.

    Not a ``DatabaseError``: code that turns database errors into "nothing was written"
    must not catch it by accident. ``code`` is ``outcome_unknown`` everywhere (API, admin,
    commands).
    """

    code = "outcome_unknown"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


OUTCOME_UNKNOWN = (
    "the connection to the database was lost while committing ({error}); the write may or "
    "may not have been saved"
)


def rolled_back_for_sure(exc: DatabaseError, vendor: str) -> bool:
    """Whether a COMMIT that raised ``exc`` certainly did not commit."""
    if vendor == "sqlite":
        return True
    if vendor == "postgresql":
        sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
        return sqlstate[:2] in ROLLED_BACK_SQLSTATE_CLASSES
    return False


@contextmanager
def atomic_commit(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """``transaction.atomic()``; a COMMIT whose outcome is unknown raises ``OutcomeUnknown``.

    Usable as a decorator too. Every other failure is the ``DatabaseError`` it was, raised
    after the rollback: nothing of the block was written.
    """
    connection = connections[using]
    outermost = not connection.in_atomic_block
    committing = False
    try:
        with transaction.atomic(using=using):
            yield
            # The block's statements all succeeded; leaving it sends COMMIT (outermost).
            committing = outermost
    except DatabaseError as exc:
        if committing and not rolled_back_for_sure(exc, connection.vendor):
            raise OutcomeUnknown(OUTCOME_UNKNOWN.format(error=_describe(exc))) from exc
        raise


def _describe(exc: DatabaseError) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {first_line}" if first_line else name

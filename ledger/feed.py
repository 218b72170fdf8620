"""A world's change feed: its events in ledger order, for consumers that follow the ledger.

A consumer keeps the id of the last event it processed and asks for the events after it
(``after``); it sees every event of the world once, in ``event.id`` order, across its
restarts: client events, and system ones (genesis, backfill, drift, reversals).

**Ids are drawn at insert but become visible at commit.** On PostgreSQL two writers can
commit out of id order: event 51 visible while event 50 is still in flight. A feed that
served 51 would make its consumer skip 50 for ever. So before reading, the feed finds the
highest id drawn so far (the sequence's last value) and waits until every transaction
that was inserting into the ledger at that moment has ended (each holds
``RowExclusiveLock`` on ``event`` from its INSERT to its end, in ``pg_locks``): every id up
to that horizon is then committed or never will be, and the page stops there. The wait
lasts as long as the longest ledger write in flight (milliseconds; a drift chunk under a
second); past ``PIPEWORKS_FEED_SETTLE_TIMEOUT`` seconds the feed answers ``FeedBusy``
rather than guess. SQLite has one writer at a time, which commits before the next draws
an id: what is visible is the horizon.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection

from ledger.models import Event
from ledger.selectors import load_recorded_events, serialize_event

DEFAULT_FEED_LIMIT = 100
MAX_FEED_LIMIT = 500
FEED_DELTAS_PER_EVENT = 1000  # a wider event's deltas are read with GET /admin/events/{id}
SETTLE_POLL_SECONDS = 0.002

FEED_BUSY = (
    "writes in flight did not finish within {timeout:g} s, so the feed cannot tell which "
    "events are final yet; retry"
)


class FeedBusy(Exception):
    """Transactions that may hold earlier event ids were still in flight at the deadline."""


@dataclass
class FeedPage:
    """A page of the feed; ``next_after`` is the cursor to continue from."""

    events: list[dict]
    next_after: int
    has_more: bool


def settled_horizon(timeout: float | None = None) -> int | None:
    """Return the id up to which every event is final (None: everything visible is).

    Raises:
        FeedBusy: On PostgreSQL, inserts into the ledger in flight when the horizon was
            taken were still running after ``timeout`` seconds
            (``PIPEWORKS_FEED_SETTLE_TIMEOUT``).
    """
    if connection.vendor != "postgresql":
        return None
    timeout = settings.PIPEWORKS_FEED_SETTLE_TIMEOUT if timeout is None else timeout
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        # The sequence first, then the writers: a session that drew an id up to the
        # horizon has held its lock on the table since its INSERT was parsed, so it is
        # listed until its transaction ends. pg_sequence_last_value needs only USAGE,
        # which the application's role has; it is NULL before the first id is drawn.
        cursor.execute(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass)", [table]
        )
        horizon = cursor.fetchone()[0] or 0
        in_flight = _inserting(cursor, table, None)
        deadline = time.monotonic() + timeout
        pause = SETTLE_POLL_SECONDS
        while in_flight:
            if time.monotonic() > deadline:
                raise FeedBusy(FEED_BUSY.format(timeout=timeout))
            time.sleep(pause)
            pause = min(pause * 2, 0.1)  # writes take milliseconds; a drift chunk, a second
            in_flight = _inserting(cursor, table, in_flight)
    return horizon


def _inserting(cursor, table: str, among: list[str] | None) -> list[str]:
    """Return the other transactions that may insert into ``table`` (of ``among``).

    An INSERT takes ``RowExclusiveLock`` on its table before it draws an id, and holds it
    to the end of its transaction; readers take weaker locks, and the ledger is never
    updated. Transactions are named by their virtual id, so a session's next one is not
    mistaken for the one in flight.
    """
    sql = (
        "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'relation' "
        "AND relation = %s::regclass AND mode = 'RowExclusiveLock' AND granted "
        "AND pid <> pg_backend_pid()"
    )
    if among is None:
        cursor.execute(sql, [table])
    else:
        cursor.execute(sql + " AND virtualtransaction = ANY(%s)", [table, among])
    return [row[0] for row in cursor.fetchall()]


def world_feed(
    world_id: str,
    *,
    after: int = 0,
    limit: int = DEFAULT_FEED_LIMIT,
    since: datetime | None = None,
    until: datetime | None = None,
    occurred_since: datetime | None = None,
    occurred_until: datetime | None = None,
    horizon: int | None = None,
) -> FeedPage:
    """Return the world's events after ``after``, in id order, up to ``horizon``.

    Filters are half-open ranges on recorded time and on game time. Each event carries
    at most ``FEED_DELTAS_PER_EVENT`` deltas (``deltas_complete`` says whether all).
    Four queries, whatever the page's size.
    """
    events = Event.objects.filter(world_id=world_id, pk__gt=after)
    if horizon is not None:
        events = events.filter(pk__lte=horizon)
    for lookup, value in (
        ("timestamp__gte", since),
        ("timestamp__lt", until),
        ("occurred_at__gte", occurred_since),
        ("occurred_at__lt", occurred_until),
    ):
        if value is not None:
            events = events.filter(**{lookup: value})
    ids = list(events.order_by("pk").values_list("pk", flat=True)[: limit + 1])
    has_more = len(ids) > limit
    ids = ids[:limit]
    loaded = load_recorded_events(ids, deltas_per_event=FEED_DELTAS_PER_EVENT) if ids else {}
    page = [
        {**serialize_event(loaded[event_id]), "deltas_complete": loaded[event_id].deltas_complete}
        for event_id in ids
    ]
    if has_more or horizon is None:
        next_after = ids[-1] if ids else after
    else:
        # Every event of the world up to the horizon was served (or filtered out).
        next_after = max(after, horizon)
    return FeedPage(events=page, next_after=next_after, has_more=has_more)

"""The event ledger: the authoritative, append-only history of every score change.

``event.id`` orders the ledger. Rows are written only by ``ledger.services`` and never
updated or deleted; every foreign key into or out of the ledger is PROTECT, so no cascade
can remove a ledger row.
"""

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from axes.models import Axis
from ledger.exceptions import LedgerImmutableError
from worlds.models import Character, World

if TYPE_CHECKING:
    from ledger.records import RecordedEvent

LEDGER_IMMUTABLE = "the ledger is append-only: {operation} on {model} is refused"


class LedgerQuerySet(models.QuerySet):
    """A queryset that can read and insert ledger rows, never change or remove them."""

    def update(self, **kwargs):
        raise LedgerImmutableError(
            LEDGER_IMMUTABLE.format(operation="update()", model=self.model.__name__)
        )

    def delete(self):
        raise LedgerImmutableError(
            LEDGER_IMMUTABLE.format(operation="delete()", model=self.model.__name__)
        )

    def bulk_update(self, objs, fields, batch_size=None):
        raise LedgerImmutableError(
            LEDGER_IMMUTABLE.format(operation="bulk_update()", model=self.model.__name__)
        )


class LedgerModel(models.Model):
    """Base of the ledger tables: rows are inserted once and never saved again.

    The database triggers of ``ledger.guard`` enforce the same rule for raw SQL.
    """

    objects = LedgerQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerImmutableError(
                LEDGER_IMMUTABLE.format(
                    operation="save() of a stored row", model=type(self).__name__
                )
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError(
            LEDGER_IMMUTABLE.format(operation="delete()", model=type(self).__name__)
        )


class EventType(models.Model):
    """An EventType names a kind of event in a world; it is created on first use."""

    world = models.ForeignKey(World, on_delete=models.PROTECT, related_name="event_types")
    name = models.CharField(max_length=100, help_text="e.g. 'loot_found'.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "event_type"
        ordering = ["world", "name"]
        constraints = [
            models.UniqueConstraint(fields=["world", "name"], name="event_type_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Source(models.TextChoices):
    """The channel an event came through."""

    API = "api", "API"
    ADMIN = "admin", "admin"
    COMMAND = "command", "management command"
    SYSTEM = "system", "system"


class Event(LedgerModel):
    """An Event is an immutable record of something that happened in a World.

    Its deltas are the only way scores change. A retried request carrying the same
    ``idempotency_key`` returns this event instead of applying again; ``request_hash``
    tells a retry from a different request reusing the key.

    The provenance columns (``actor_*``, ``source``, ``request_id``, ``occurred_at``,
    ``policy_hash``) are written with the event and never changed. They are NULL on
    events recorded before they existed: such events read back as "unknown". They are
    nullable without a default so that adding them is an ``ALTER TABLE ... ADD COLUMN``,
    which keeps the append-only triggers (an SQLite table rebuild would drop them).
    """

    world = models.ForeignKey(World, on_delete=models.PROTECT, related_name="events")
    event_type = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="events")
    timestamp = models.DateTimeField(default=timezone.now, editable=False)
    # NULL, not "", means "no key": the unique constraint must ignore keyless events.
    idempotency_key = models.CharField(  # noqa: DJ001
        max_length=200,
        null=True,
        blank=True,
        editable=False,
        help_text="Client-chosen key that makes a retried request safe.",
    )
    request_hash = models.CharField(
        max_length=64, blank=True, editable=False, help_text="sha256 of the canonical request."
    )
    # No database constraint and DO_NOTHING: deleting a user is never blocked by the
    # ledger and never changes it; ``actor_name`` keeps naming the actor afterwards.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        editable=False,
        help_text="The user who caused the event, when it was a user.",
    )
    actor_name = models.CharField(  # noqa: DJ001 (NULL: recorded before provenance)
        max_length=300,
        null=True,
        editable=False,
        help_text="Who caused it, as recorded: a username, a command and OS user, 'system'.",
    )
    actor_key = models.CharField(  # noqa: DJ001 (NULL: not written with an API key)
        max_length=8,
        null=True,
        editable=False,
        help_text="The prefix of the API key it was written with (the key, not a secret).",
    )
    source = models.CharField(  # noqa: DJ001 (NULL: recorded before provenance)
        max_length=20, null=True, choices=Source.choices, editable=False
    )
    request_id = models.CharField(  # noqa: DJ001 (NULL: not an HTTP request)
        max_length=200,
        null=True,
        editable=False,
        help_text="X-Request-ID of the HTTP request that wrote it (a correlation id).",
    )
    occurred_at = models.DateTimeField(
        null=True, editable=False, help_text="Game time the client says it happened."
    )
    policy_hash = models.CharField(  # noqa: DJ001 (NULL: recorded before provenance)
        max_length=64, null=True, editable=False, help_text="Policy it was validated against."
    )
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
        db_index=False,  # the unique index event_reversed_once serves the lookups
        editable=False,
        help_text="The event this reversal undoes.",
    )

    # Not columns: set on the events ``apply_event`` and ``apply_events`` return.
    reversed_by_id: int | None = None
    """The id of the reversal that undid this event; set by ``load_recorded_events``."""
    replayed = False
    """True when the call was an idempotent retry: this is the original, nothing was applied."""
    recorded: "RecordedEvent | None" = None
    """The event's deltas (with labels) and metadata as written, so no caller re-reads them.

    Set by ``apply_event`` and by ``load_recorded_events`` of the ledger's selectors; None
    on events loaded any other way.
    """

    class Meta(LedgerModel.Meta):
        db_table = "event"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["world", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_unique_idempotency_key",
            ),
            # An event is reversed at most once. Conditional, so SQLite adds it as a
            # unique index instead of rebuilding the table.
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="event_reversed_once",
            ),
        ]
        indexes = [
            models.Index(fields=["world", "id"], name="event_world_id_idx"),
            # Window statistics (ledger.stats) and time filters read a world's events by
            # recorded time: their cost follows the window, not the ledger.
            models.Index(fields=["world", "timestamp"], name="event_world_timestamp_idx"),
        ]
        permissions = [
            ("apply_event", "Can apply events"),
            ("reverse_event", "Can reverse events"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event_type.name}"


class EventEntityAxisDelta(LedgerModel):
    """One character's change on one axis within an event.

    Self-describing: ``old_score`` -> ``new_score`` with ``delta`` = new - old (the change
    actually applied) and ``requested_delta`` (what was asked; differs when clamped).
    """

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deltas")
    world = models.ForeignKey(World, on_delete=models.PROTECT, related_name="+")
    character = models.ForeignKey(Character, on_delete=models.PROTECT, related_name="axis_deltas")
    axis = models.ForeignKey(Axis, on_delete=models.PROTECT, related_name="deltas")
    old_score = models.FloatField()
    new_score = models.FloatField()
    delta = models.FloatField(help_text="Change applied: new_score - old_score.")
    requested_delta = models.FloatField(help_text="Change requested, before clamping to [0, 1].")

    class Meta(LedgerModel.Meta):
        db_table = "event_entity_axis_delta"
        ordering = ["event", "axis"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "character", "axis"], name="delta_unique_per_event"
            ),
            models.CheckConstraint(
                condition=Q(old_score__gte=0.0, old_score__lte=1.0, new_score__gte=0.0)
                & Q(new_score__lte=1.0),
                name="delta_scores_in_range",
            ),
        ]
        indexes = [
            # The inspector reads a character's history newest first.
            models.Index(fields=["character", "event"], name="delta_character_event_idx"),
            # The latest delta of one axis (as-of reads, rebuild_scores), also for axes
            # that a long history rarely touches.
            models.Index(
                fields=["character", "axis", "event"], name="delta_character_axis_event_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.axis_id}: {self.old_score} -> {self.new_score}"


class EventMetadata(LedgerModel):
    """A key/value tag on an event (source, reason, request id, ...)."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="metadata_entries")
    world = models.ForeignKey(World, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=100)
    value = models.CharField(max_length=1000)

    class Meta(LedgerModel.Meta):
        db_table = "event_metadata"
        ordering = ["event", "key"]
        verbose_name_plural = "event metadata"
        constraints = [
            models.UniqueConstraint(fields=["event", "key"], name="metadata_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class DriftClock(models.Model):
    """How far one axis's drift has been applied: every whole period before ``applied_until``.

    One row per drifting axis, created by ``sync_policies`` when a drift rule appears (the
    clock starts then), removed when the rule or the axis goes. Not a ledger row: the
    drift events are the record; the clock only says where the next run starts.
    """

    axis = models.OneToOneField(
        Axis, on_delete=models.CASCADE, primary_key=True, related_name="drift_clock"
    )
    world = models.ForeignKey(World, on_delete=models.CASCADE, related_name="drift_clocks")
    started_at = models.DateTimeField(help_text="When the rule first appeared in a synced policy.")
    applied_until = models.DateTimeField(
        help_text="Drift is applied for every whole period before this instant."
    )

    class Meta:
        db_table = "drift_clock"

    def __str__(self) -> str:
        return f"drift clock of axis {self.axis_id} at {self.applied_until:%Y-%m-%d %H:%M:%S}"


class DriftState(models.Model):
    """A world's drift: paused or not, and the run in progress (resumable after a crash).

    Every drift run locks this row first, so runs of a world take turns; a run's plan and
    its character cursor are saved with each chunk it commits.
    """

    world = models.OneToOneField(
        World, on_delete=models.CASCADE, primary_key=True, related_name="drift_state"
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.CharField(max_length=300, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.CharField(max_length=300, blank=True)
    run_plan = models.JSONField(
        null=True, blank=True, help_text="The run in progress: each axis's from, to, periods, rule."
    )
    run_after = models.BigIntegerField(
        null=True, blank=True, help_text="The run in progress is done up to this character id."
    )

    class Meta:
        db_table = "drift_state"

    def __str__(self) -> str:
        return f"drift of {self.world_id}" + (" (paused)" if self.paused_at else "")

"""The ledger in the admin: read-only events, with their deltas and metadata.

Nothing here writes: events are made by ``apply_event`` only, so no one (superusers
included) may add, change or delete an event, a delta or a metadata row. The event list
stays fast on a ledger of millions of rows: no full ``COUNT(*)`` of the table, no
``DISTINCT`` over joins for search or the character filter, and a bounded preview of
each event's deltas.
"""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import smart_split, unescape_string_literal

from axes.registry import get_world_registry
from ledger.models import Event, EventEntityAxisDelta, EventMetadata, EventType
from pipeworks.admin import ReadOnlyAdmin, ReadOnlyInline
from worlds.models import Character

CHANGES_PREVIEW = 3
EVENT_TYPES_NOTE = (
    "Event types are created on first use by the ledger (apply_event); they are read-only."
)
LEDGER_NOTE = (
    "The ledger is append-only: events are written by apply_event (services and the API) "
    "and can't be added, changed or deleted here."
)


class EstimatedCountPaginator(Paginator):
    """Count the unfiltered ledger in one cheap statement; filtered lists exactly.

    ``COUNT(*)`` of a big table reads all of it. For the unfiltered list one statement
    returns an estimate once the table holds ``estimate_from`` rows or more, else the
    exact count, so the page runs the same queries at every size: on PostgreSQL the
    planner's ``pg_class.reltuples`` (kept by autovacuum and ``ANALYZE``); on SQLite the
    id range, which the append-only ledger keeps close to the row count.
    """

    estimate_from = 50_000

    @cached_property
    def count(self):
        if isinstance(self.object_list, QuerySet) and not self.object_list.query.where:
            return unfiltered_row_count(self.object_list, estimate_from=self.estimate_from)
        return super().count


def unfiltered_row_count(queryset: QuerySet, *, estimate_from: int) -> int:
    """Return the rows of the queryset's table: estimated when large, else exact."""
    connection = connections[queryset.db]
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    if connection.vendor == "postgresql":
        # reltuples is -1 for a table never vacuumed or analysed: then count exactly.
        sql = (
            "SELECT CASE WHEN reltuples >= %s THEN reltuples::bigint "
            f"ELSE (SELECT COUNT(*) FROM {table}) END "
            "FROM pg_class WHERE oid = to_regclass(%s)"
        )
        params = [estimate_from, table]
    else:
        # MAX and MIN each in a subquery of its own: together in one SELECT they defeat
        # SQLite's one-index-lookup optimisation and scan the table (59 ms at 1M events).
        sql = (
            f"SELECT CASE WHEN n >= %s THEN n ELSE (SELECT COUNT(*) FROM {table}) END FROM "
            f"(SELECT COALESCE((SELECT MAX(id) FROM {table}) - (SELECT MIN(id) FROM {table}) "
            "+ 1, 0) AS n)"
        )
        params = [estimate_from]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


class CharacterFilter(admin.SimpleListFilter):
    """Events that changed one character, chosen by ``?character=<id>``.

    Only the selected character is listed: a dropdown of every character would not scale.
    Links from the character page set the parameter.
    """

    title = "character"
    parameter_name = "character"

    def lookups(self, request, model_admin):
        character_id = self._character_id()
        if character_id is None:
            return []
        return [
            (str(pk), f"{name} ({world_id})")
            for pk, name, world_id in Character.objects.filter(pk=character_id).values_list(
                "pk", "name", "world_id"
            )
        ]

    def queryset(self, request, queryset):
        character_id = self._character_id()
        if character_id is None:
            return queryset
        # A subquery rather than a join: an event has one delta per axis of the character.
        touching = EventEntityAxisDelta.objects.filter(character_id=character_id)
        return queryset.filter(pk__in=touching.values("event_id"))

    def _character_id(self) -> int | None:
        value = self.value()
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise IncorrectLookupParameters(f"character must be an id, not {value!r}") from None


class EventTypeFilter(admin.SimpleListFilter):
    """Events of one type name, across worlds or within the selected world."""

    title = "event type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        types = EventType.objects.all()
        world_id = request.GET.get("world__world_id__exact")
        if world_id:
            types = types.filter(world_id=world_id)
        names = types.order_by("name").values_list("name", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event_type__name=self.value())
        return queryset


class EventChangeList(ChangeList):
    """Prefetch a short preview of each listed event's deltas, and its metadata."""

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        # Sliced prefetch: an event may touch thousands of characters (an axis backfill).
        preview = EventEntityAxisDelta.objects.select_related("character", "axis").order_by("id")
        return queryset.prefetch_related(
            Prefetch("deltas", queryset=preview[: CHANGES_PREVIEW + 1], to_attr="preview"),
            Prefetch(
                "metadata_entries",
                queryset=EventMetadata.objects.order_by("key"),
                to_attr="metadata_list",
            ),
        )


class DeltaInline(ReadOnlyInline):
    model = EventEntityAxisDelta
    fields = (
        "character",
        "axis",
        "old_score",
        "new_score",
        "delta",
        "requested_delta",
        "labels",
        "clamped",
    )
    readonly_fields = fields
    ordering = ("character_id", "axis__name")
    verbose_name = "delta"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("character", "axis", "world")

    @admin.display(description="label")
    def labels(self, obj):
        axis = get_world_registry(obj.world).by_id[obj.axis_id]
        old, new = axis.label_for(obj.old_score), axis.label_for(obj.new_score)
        if old == new:
            return old or "—"
        return format_html('<strong class="pw-label-change">{} → {}</strong>', old, new)

    @admin.display(description="clamped")
    def clamped(self, obj):
        if obj.requested_delta == obj.delta:
            return ""
        return format_html('<strong class="pw-clamped">{}</strong>', "clamped")


class MetadataInline(ReadOnlyInline):
    model = EventMetadata
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)
    verbose_name = "metadata entry"
    verbose_name_plural = "metadata"


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The ledger, newest first."""

    source_note = LEDGER_NOTE
    list_display = ("id", "when", "kind", "changes", "metadata")
    list_display_links = ("id",)
    # Only the primary key is indexed for ordering across the whole ledger.
    sortable_by = ("id",)
    list_filter = (CharacterFilter, "world", EventTypeFilter)
    list_select_related = ("event_type",)
    search_fields = ("deltas__character__name", "metadata_entries__value", "event_type__name")
    search_help_text = (
        "Character name, metadata value (or key=value), event type or event id; "
        "several words must all match."
    )
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    inlines = (DeltaInline, MetadataInline)
    fields = ("id", "world", "event_type", "timestamp", "idempotency_key", "request_hash")
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return EventChangeList

    def get_search_results(self, request, queryset, search_term):
        """Match every word against names, metadata and type, through subqueries.

        Subqueries instead of joins keep one row per event, so the list needs no
        ``DISTINCT`` over the ledger.
        """
        for word in smart_split(search_term):
            if word[0] in "\"'" and word[0] == word[-1]:
                word = unescape_string_literal(word)
            queryset = queryset.filter(self._matches(word))
        return queryset, False

    @staticmethod
    def _matches(word: str) -> Q:
        by_character = EventEntityAxisDelta.objects.filter(character__name__icontains=word)
        by_metadata = EventMetadata.objects.filter(value__icontains=word)
        condition = (
            Q(pk__in=by_character.values("event_id"))
            | Q(pk__in=by_metadata.values("event_id"))
            | Q(event_type__name__icontains=word)
        )
        key, sep, value = word.partition("=")
        if sep and key:
            tagged = EventMetadata.objects.filter(key=key, value__icontains=value)
            condition |= Q(pk__in=tagged.values("event_id"))
        if word.isdigit():
            condition |= Q(pk=int(word))
        return condition

    @admin.display(description="timestamp")
    def when(self, obj):
        return timezone.localtime(obj.timestamp).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="event type (world)")
    def kind(self, obj):
        return format_html('{}<div class="pw-quiet">{}</div>', obj.event_type.name, obj.world_id)

    @admin.display(description="changes")
    def changes(self, obj):
        preview = obj.preview[:CHANGES_PREVIEW]
        lines = format_html_join(
            "",
            "<div>{} · {} {}</div>",
            ((delta.character.name, delta.axis.name, f"{delta.delta:+.6g}") for delta in preview),
        )
        if len(obj.preview) > CHANGES_PREVIEW:
            return format_html("{}<div>…</div>", lines)
        return lines

    @admin.display(description="metadata")
    def metadata(self, obj):
        return format_html_join(
            "", "<div>{}={}</div>", ((entry.key, entry.value) for entry in obj.metadata_list)
        )


@admin.register(EventType)
class EventTypeAdmin(ReadOnlyAdmin):
    source_note = EVENT_TYPES_NOTE
    list_display = ("name", "world", "description", "created_at")
    list_filter = ("world",)
    search_fields = ("name", "description")
    list_select_related = ("world",)
    ordering = ("world", "name")
    fields = ("name", "world", "description", "created_at")

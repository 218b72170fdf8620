"""The ledger in the admin: read-only events, with their deltas, metadata and provenance.

No one (superusers included) may add, change or delete an event, a delta or a metadata
row: events are made by the ledger services only. The one write on these pages is the
"Reverse this event" form, which calls ``reverse_event`` for users holding the reverse
permission in the event's world; the reversal is a new event, the original is untouched.
A user limited to some worlds (``access.selectors.allowed_world_ids``) sees only their
events.

The event list stays fast on a ledger of millions of rows: no full ``COUNT(*)`` of the
table, no ``DISTINCT`` over joins for search or the filters, a bounded preview of each
event's deltas, and each event's reversal read by a subquery of the page's one query.
"""

from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import smart_split, unescape_string_literal

from access.roles import REVERSE_PERMISSION
from access.selectors import allowed_world_ids, may_use_world
from axes.registry import get_world_registry
from ledger.exceptions import LedgerError
from ledger.models import Event, EventEntityAxisDelta, EventMetadata, EventType, Source
from ledger.provenance import UNKNOWN
from ledger.services import reverse_event
from ledger.stats import CLAMPED, band_ordinal
from pipeworks.admin import ParametersFilter, ReadOnlyAdmin, ReadOnlyInline
from pipeworks.serializers import MAX_ID
from pipeworks.transactions import OutcomeUnknown
from worlds.models import Character, World

CHANGES_PREVIEW = 3
# One event's page shows this many delta rows (an axis backfill may hold one per
# character and axis of the world, 60,000 and more): ?deltas_page=N pages through them.
DELTAS_PER_PAGE = 200
DELTAS_PAGE_PARAMETER = "deltas_page"
EVENT_TYPES_NOTE = (
    "Event types are created on first use by the ledger (apply_event); they are read-only."
)
LEDGER_NOTE = (
    "The ledger is append-only: events are written by apply_event (services and the API) "
    "and can't be added, changed or deleted here; a mistaken event is corrected by "
    "reversing it, which writes a new event."
)
REVERSE_DONE = "Reversed by #{reversal_id}: event #{event_id} is undone."
REVERSE_OUTCOME_UNKNOWN = (
    "The connection to the database was lost while the reversal of event #{event_id} was "
    "being saved: it may or may not have been written. See whether this page names its "
    "reversal; if not, reverse it again (an event is reversed at most once, so it cannot "
    "be undone twice)."
)
REVERSE_NO_REASON = "Give a reason to reverse event #{event_id}; nothing was written."
UNKNOWN_EVENT = "No event with id {object_id!r}."


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


def limit_to_allowed_worlds(queryset: QuerySet, request, *, field: str = "world_id") -> QuerySet:
    """Return ``queryset`` narrowed to the worlds the request's user may see.

    ``field`` names the rows' world (``pk`` for worlds themselves). Unlimited users get
    the queryset unchanged, so the ledger's unfiltered list keeps its cheap count.
    """
    allowed = allowed_world_ids(request.user)
    if allowed is None:
        return queryset
    return queryset.filter(**{f"{field}__in": allowed})


def event_url(event_id: int) -> str:
    """Return the admin page of one event."""
    return reverse("admin:ledger_event_change", args=[event_id])


def actor_events_url(user_id: int) -> str:
    """Return the event list filtered to the events of one user account."""
    changelist = reverse("admin:ledger_event_changelist")
    return f"{changelist}?{ActorFilter.parameter_name}={user_id}"


def actor_html(event: Event) -> str:
    """Return who caused ``event`` as recorded, linked to their events when it was a user.

    Reads ``actor_user_id`` and ``actor_name`` only: the account may have been deleted,
    and ``event.actor_user`` would then raise.
    """
    name = event.actor_name or UNKNOWN
    if event.actor_user_id is None:
        return format_html('<span class="pw-actor">{}</span>', name)
    return format_html(
        '<a class="pw-actor" href="{}" title="Events caused by this user">{}</a>',
        actor_events_url(event.actor_user_id),
        name,
    )


def source_label(event: Event) -> str:
    """Return the channel of ``event``; "unknown" for one recorded before provenance."""
    return event.get_source_display() if event.source else UNKNOWN


def correction_html(event: Event) -> str:
    """Return the "reverses #M" and "reversed by #N" markers of ``event``, linked.

    ``reversed_by_id`` is the annotation of ``EventAdmin.get_queryset``.
    """
    markers = []
    if event.reverses_id is not None:
        markers.append(("pw-reverses", "reverses", event_url(event.reverses_id), event.reverses_id))
    if event.reversed_by_id is not None:
        markers.append(
            ("pw-reversed-by", "reversed by", event_url(event.reversed_by_id), event.reversed_by_id)
        )
    return format_html_join("", '<div class="{}">{} <a href="{}">#{}</a></div>', markers)


def id_parameter(name: str, value: str) -> int:
    """Return a list filter's id parameter, or refuse the lookup (the admin shows ?e=1)."""
    try:
        number = int(value)
    except ValueError:
        raise IncorrectLookupParameters(f"{name} must be an id, not {value!r}") from None
    if not 0 < number <= MAX_ID:
        raise IncorrectLookupParameters(f"{name} must be an id, not {value!r}")
    return number


class AllowedWorldFilter(admin.RelatedFieldListFilter):
    """The world filter, offering only the worlds the user may see."""

    def field_choices(self, field, request, model_admin):
        allowed = allowed_world_ids(request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False,
            ordering=ordering,
            limit_choices_to=None if allowed is None else {"pk__in": allowed},
        )


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
        characters = limit_to_allowed_worlds(Character.objects.filter(pk=character_id), request)
        return [
            (str(pk), f"{name} ({world_id})")
            for pk, name, world_id in characters.values_list("pk", "name", "world_id")
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
        return None if value is None else id_parameter("character", value)


class EventTypeFilter(admin.SimpleListFilter):
    """Events of one type name (``?type=<name>``), across worlds or within the selected world.

    Only the selected type is listed, with a text box to name another: a world may hold
    up to ``PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD`` types, and a list of every one grew the
    page with them (4.4 MB at 20,000 types). The Event types page links each type to its
    events, and the search box matches type names too.
    """

    title = "event type"
    parameter_name = "type"
    template = "admin/ledger/event/type_filter.html"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self):
        return True

    def choices(self, changelist):
        yield from super().choices(changelist)
        # The text box: a GET form keeping the list's other parameters (not its page).
        hidden = [
            (name, value)
            for name, value in changelist.params.items()
            if name not in (self.parameter_name, PAGE_VAR)
        ]
        yield {"form": True, "hidden": hidden, "value": self.value() or ""}

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event_type__name=self.value())
        return queryset


class SourceFilter(admin.SimpleListFilter):
    """Events of one channel; "unknown" lists those recorded before provenance existed."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [*Source.choices, (UNKNOWN, UNKNOWN)]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == UNKNOWN:
            return queryset.filter(source__isnull=True)
        if value not in Source.values:
            raise IncorrectLookupParameters(f"source must be a source, not {value!r}")
        return queryset.filter(source=value)


class ReversalFilter(admin.SimpleListFilter):
    """Corrections: reversals, events that were reversed, or events that are neither.

    "Was reversed" is a subquery on the reversals' unique index, not a join.
    """

    title = "reversal"
    parameter_name = "reversal"
    IS_REVERSAL = "is_reversal"
    REVERSED = "reversed"
    NEITHER = "neither"

    def lookups(self, request, model_admin):
        return [
            (self.IS_REVERSAL, "is a reversal"),
            (self.REVERSED, "was reversed"),
            (self.NEITHER, "neither"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        reversed_ids = Event.objects.filter(reverses__isnull=False).values("reverses_id")
        if value == self.IS_REVERSAL:
            return queryset.filter(reverses__isnull=False)
        if value == self.REVERSED:
            return queryset.filter(pk__in=reversed_ids)
        if value == self.NEITHER:
            return queryset.filter(reverses__isnull=True).exclude(pk__in=reversed_ids)
        raise IncorrectLookupParameters(f"reversal must be one of the choices, not {value!r}")


def instant_parameter(name: str, value: str) -> datetime:
    """Return a list filter's ISO 8601 instant (UTC when it has no offset), or refuse it."""
    try:
        instant = parse_datetime(value)
        if instant is not None and not timezone.is_aware(instant):
            instant = timezone.make_aware(instant, UTC)
        # Years at the ends of the calendar overflow once converted (SQLite's UTC).
        if instant is not None and not 1 < instant.astimezone(UTC).year < 9999:
            instant = None
    except (ValueError, OverflowError):  # 2026-13-01, an offset of +99:00
        instant = None
    if instant is None:
        raise IncorrectLookupParameters(f"{name} must be an ISO 8601 instant, not {value!r}")
    return instant


class RecordedFilter(ParametersFilter):
    """Events recorded in ``[recorded_since, recorded_until)`` (ISO 8601 instants).

    Set by the world page's statistics, whose numbers count a window of recorded time.
    """

    title = "recorded"
    parameters = ("recorded_since", "recorded_until")

    def queryset(self, request, queryset):
        for name, lookup in (("recorded_since", "gte"), ("recorded_until", "lt")):
            if name in self.used_parameters:
                instant = instant_parameter(name, self.used_parameters[name])
                queryset = queryset.filter(**{f"timestamp__{lookup}": instant})
        return queryset

    def describe(self) -> str:
        since = self.used_parameters.get("recorded_since", "the start")
        until = self.used_parameters.get("recorded_until", "now")
        return f"from {since} to {until}"


class AxisChangeFilter(ParametersFilter):
    """Events with a delta on one axis (``?axis=<id>``), optionally of one kind (``change``).

    ``change`` is ``clamped`` (applied differs from requested), ``up`` or ``down`` (a label
    crossing under the current bands, as the world page counts them).
    """

    title = "axis change"
    parameters = ("axis", "change")
    CHANGES = ("clamped", "up", "down")

    def queryset(self, request, queryset):
        if "axis" not in self.used_parameters:
            if "change" in self.used_parameters:
                raise IncorrectLookupParameters("change needs an axis")
            return queryset
        return queryset.filter(pk__in=self._deltas().values("event_id"))

    def _deltas(self) -> QuerySet:
        axis = self._registered
        deltas = EventEntityAxisDelta.objects.filter(axis_id=axis.id)
        change = self.used_parameters.get("change")
        if change is None:
            return deltas
        if change not in self.CHANGES:
            raise IncorrectLookupParameters(
                f"change must be one of {', '.join(self.CHANGES)}, not {change!r}"
            )
        if change == "clamped":
            return deltas.filter(CLAMPED)
        deltas = deltas.annotate(
            old_band=band_ordinal([axis], "old_score"), new_band=band_ordinal([axis], "new_score")
        )
        if change == "up":
            return deltas.filter(new_band__gt=F("old_band"))
        return deltas.filter(new_band__lt=F("old_band"))

    @cached_property
    def _registered(self):
        axis_id = id_parameter("axis", self.used_parameters["axis"])
        world = World.objects.filter(axes__pk=axis_id).first()
        # An axis of a world the user may not see is, to them, no axis.
        if world is None or not may_use_world(self.request.user, world_id=world.pk):
            raise IncorrectLookupParameters(f"axis {axis_id} does not exist")
        return get_world_registry(world).by_id[axis_id]

    def describe(self) -> str:
        change = self.used_parameters.get("change")
        name = self._registered.name
        return f"{name}: {change}" if change else f"{name}: any delta"


class ActorFilter(admin.SimpleListFilter):
    """Events caused by one user account, chosen by ``?actor_user__id__exact=<id>``.

    The actor links of the list and of the event page set it. Only the selected user is
    listed, as a dropdown of every account would not scale; a deleted account still
    filters its events. Actors without an account (commands, the system) are found by
    name with the search box.
    """

    title = "actor"
    parameter_name = "actor_user__id__exact"

    def lookups(self, request, model_admin):
        user_id = self._user_id()
        if user_id is None:
            return []
        User = get_user_model()
        names = User.objects.filter(pk=user_id).values_list(User.USERNAME_FIELD, flat=True)
        name = next(iter(names), None)
        return [(str(user_id), name if name is not None else f"deleted user #{user_id}")]

    def queryset(self, request, queryset):
        user_id = self._user_id()
        return queryset if user_id is None else queryset.filter(actor_user_id=user_id)

    def _user_id(self) -> int | None:
        value = self.value()
        return None if value is None else id_parameter("actor", value)


class ReverseEventForm(forms.Form):
    """The reason a game master gives for reversing an event; the ledger records it."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why the event is reversed; recorded in the reversal's metadata.",
    )


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


class DeltaPageFormSet(BaseInlineFormSet):
    """One page of an event's deltas: ``DELTAS_PER_PAGE`` rows, a count and a slice.

    ``page_number`` and ``query`` (the request's parameters) are set per request by
    ``DeltaInline.get_formset``.
    """

    per_page = DELTAS_PER_PAGE
    page_number = None
    query: dict = {}

    @cached_property
    def delta_page(self):
        # ``get_page`` turns a bad or out-of-range number into the first or last page.
        paginator = Paginator(super().get_queryset(), self.per_page)
        return paginator.get_page(self.page_number)

    def get_queryset(self):
        return self.delta_page.object_list

    def page_links(self) -> list[tuple[str, str | None]]:
        """Return ``(label, url)`` of the page links (url None: this page or an ellipsis)."""
        page = self.delta_page
        links = []
        for number in page.paginator.get_elided_page_range(page.number, on_each_side=2):
            if number == page.paginator.ELLIPSIS or number == page.number:
                links.append((str(number), None))
            else:
                query = {**self.query, DELTAS_PAGE_PARAMETER: number}
                links.append((str(number), "?" + urlencode(query)))
        return links


class DeltaInline(ReadOnlyInline):
    model = EventEntityAxisDelta
    formset = DeltaPageFormSet
    template = "admin/ledger/event/delta_inline.html"
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

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        query = {key: value for key, value in request.GET.items() if key != DELTAS_PAGE_PARAMETER}
        page_number = request.GET.get(DELTAS_PAGE_PARAMETER)
        return type(formset.__name__, (formset,), {"page_number": page_number, "query": query})

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
    """The ledger, newest first, with who caused each event and how it was corrected."""

    source_note = LEDGER_NOTE
    change_form_template = "admin/ledger/event/change_form.html"
    list_display = (
        "id",
        "when",
        "kind",
        "actor_and_source",
        "changes",
        "metadata",
        "correction",
    )
    list_display_links = ("id",)
    # Only the primary key is indexed for ordering across the whole ledger.
    sortable_by = ("id",)
    list_filter = (
        CharacterFilter,
        ("world", AllowedWorldFilter),
        EventTypeFilter,
        SourceFilter,
        ReversalFilter,
        ActorFilter,
        RecordedFilter,
        AxisChangeFilter,
    )
    list_select_related = ("event_type",)
    search_fields = (
        "deltas__character__name",
        "metadata_entries__value",
        "event_type__name",
        "actor_name",
    )
    search_help_text = (
        "Character name, metadata value (or key=value), event type, actor name or event id; "
        "several words must all match."
    )
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    inlines = (DeltaInline, MetadataInline)
    fieldsets = (
        (None, {"fields": ("id", "world", "event_type", "recorded_at", "occurred_at")}),
        ("Provenance", {"fields": ("actor", "source_name", "request_id", "policy_hash")}),
        ("Correction", {"fields": ("correction",)}),
        ("Idempotency", {"fields": ("idempotency_key", "request_hash")}),
    )
    readonly_fields = (
        "id",
        "world",
        "event_type",
        "recorded_at",
        "occurred_at",
        "actor",
        "source_name",
        "request_id",
        "policy_hash",
        "correction",
        "idempotency_key",
        "request_hash",
    )

    def get_queryset(self, request):
        """The events of the user's worlds, each with the id of its reversal, if any."""
        reversal = Event.objects.filter(reverses=OuterRef("pk")).values("pk")[:1]
        queryset = super().get_queryset(request).annotate(reversed_by_id=Subquery(reversal))
        return limit_to_allowed_worlds(queryset, request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (
            obj is None or may_use_world(request.user, world_id=obj.world_id)
        )

    def has_reverse_permission(self, request, obj=None) -> bool:
        """Return whether the user may reverse events; ``obj`` (in its world) when given."""
        return self.has_view_permission(request, obj) and request.user.has_perm(REVERSE_PERMISSION)

    def get_changelist(self, request, **kwargs):
        return EventChangeList

    def get_search_results(self, request, queryset, search_term):
        """Match every word against names, metadata, type and actor, through subqueries.

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
            | Q(actor_name__icontains=word)
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

    @admin.display(description="actor")
    def actor_and_source(self, obj):
        return format_html('{}<div class="pw-quiet">{}</div>', actor_html(obj), source_label(obj))

    @admin.display(description="actor")
    def actor(self, obj):
        return actor_html(obj)

    @admin.display(description="source")
    def source_name(self, obj):
        return source_label(obj)

    @admin.display(description="recorded at")
    def recorded_at(self, obj):
        return self.when(obj)

    @admin.display(description="correction")
    def correction(self, obj):
        return correction_html(obj)

    # Reversing an event -----------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and self._offers_reversal(request, obj):
            context["reverse_form"] = ReverseEventForm()
            context["reverse_url"] = reverse("admin:ledger_event_reverse", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _offers_reversal(self, request, event: Event) -> bool:
        """Show the control only where it can succeed: a reversal or a reversed event can't."""
        return (
            event.reverses_id is None
            and event.reversed_by_id is None
            and self.has_reverse_permission(request, event)
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/reverse/",
                self.admin_site.admin_view(self.reverse_view),
                name="ledger_event_reverse",
            ),
            *super().get_urls(),
        ]

    def reverse_view(self, request, object_id):
        """Reverse an event through ``reverse_event``, then show the reversal.

        POST only (``admin_view`` checks the CSRF token). The event is looked up in every
        world, so that one of a world the user may not use is refused (403), as the API
        does, rather than reported missing. A refusal of the ledger (already reversed, a
        reversal, a retired axis) is shown on the event's page; it wrote nothing.
        """
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_reverse_permission(request):
            raise PermissionDenied
        event = self._any_event(object_id)
        if not self.has_reverse_permission(request, event):
            raise PermissionDenied
        form = ReverseEventForm(request.POST)
        if not form.is_valid():
            self.message_user(request, REVERSE_NO_REASON.format(event_id=event.pk), messages.ERROR)
            return HttpResponseRedirect(event_url(event.pk))
        try:
            reversal = reverse_event(
                event_id=event.pk,
                reason=form.cleaned_data["reason"],
                actor=request.user,
                source=Source.ADMIN,
                request_id=getattr(request, "request_id", None),
            )
        except LedgerError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(event_url(event.pk))
        except OutcomeUnknown:
            message = REVERSE_OUTCOME_UNKNOWN.format(event_id=event.pk)
            self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(event_url(event.pk))
        self.message_user(
            request,
            REVERSE_DONE.format(reversal_id=reversal.pk, event_id=event.pk),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(event_url(reversal.pk))

    def _any_event(self, object_id: str) -> Event:
        try:
            return Event.objects.only("pk", "world_id").get(pk=unquote(object_id))
        except (Event.DoesNotExist, ValueError, ValidationError):
            raise Http404(UNKNOWN_EVENT.format(object_id=object_id)) from None


@admin.register(EventType)
class EventTypeAdmin(ReadOnlyAdmin):
    """The event types of the user's worlds."""

    source_note = EVENT_TYPES_NOTE
    list_display = ("name", "world", "description", "created_at", "events")
    list_filter = (("world", AllowedWorldFilter),)
    search_fields = ("name", "description")
    list_select_related = ("world",)
    ordering = ("world", "name")
    fields = ("name", "world", "description", "created_at")

    def get_queryset(self, request):
        return limit_to_allowed_worlds(super().get_queryset(request), request)

    @admin.display(description="events")
    def events(self, obj):
        """Link to the events of this type in its world (the event list's type filter)."""
        query = {EventTypeFilter.parameter_name: obj.name, "world__world_id__exact": obj.world_id}
        changelist = reverse("admin:ledger_event_changelist")
        return format_html('<a href="{}?{}">events</a>', changelist, urlencode(query))

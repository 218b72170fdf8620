"""The character inspector: creation through the ledger, panels, snapshot and ledger actions.

A user limited to some worlds (``access.selectors.allowed_world_ids``) sees only their
characters. Game masters (``APPLY_PERMISSION``) apply events to a character from its
page, through ``apply_event``, recorded with them as the actor and the admin as source.
"""

import copy
import json
import math
import uuid
from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from access.roles import APPLY_PERMISSION
from access.selectors import may_use_world
from axes.models import Axis, CharacterAxisScore
from axes.registry import get_world_registry
from ledger.admin import (
    AllowedWorldFilter,
    id_parameter,
    instant_parameter,
    limit_to_allowed_worlds,
)
from ledger.exceptions import LedgerError
from ledger.models import EventEntityAxisDelta, Source
from ledger.selectors import AsOfError
from ledger.services import apply_event, refresh_snapshots
from ledger.services.reversal import REASON_KEY
from ledger.services.validation import MAX_IDEMPOTENCY_KEY_LENGTH
from ledger.verification import verify_character
from pipeworks.admin import ParametersFilter, report_messages
from pipeworks.transactions import OutcomeUnknown
from worlds.admin.inspector import (
    INSPECTOR_EVENT_LIMIT,
    axis_rows,
    event_rows,
    score_history,
)
from worlds.models import Character, World
from worlds.services import create_character

VERIFY_CLEAN = "{character}: ledger verified: {deltas} deltas, no discrepancies."
VERIFY_FOUND = "{character}: ledger verification found {count} discrepancies."
REFRESH_DONE = "Snapshot refreshed for {count} character(s)."
# The changelist actions run in the request: verifying replays each character's ledger.
# Past this many characters they refuse (nothing is run) and point at the commands,
# which stream with progress and no request timeout.
MAX_ACTION_CHARACTERS = 100
ACTION_TOO_MANY = (
    "More than {limit} characters are selected: the admin {action} of at most {limit} "
    "characters at a time, and nothing was done. For more, run `manage.py {command} "
    "<world_id>`, which streams with progress."
)
AS_OF_REFUSED = "Showing the live state: {error}."
APPLY_DONE = "Applied event #{event_id} ({event_type}) to {character}."
APPLY_ALREADY_DONE = (
    "This form was applied before, as event #{event_id} ({event_type}); nothing was applied again."
)
APPLY_OUTCOME_UNKNOWN = (
    "The connection to the database was lost while the event was being saved: it may or "
    "may not have been applied. Submit the form again: it carries the same idempotency "
    "key, so the event is applied once at most."
)
APPLY_METADATA_BAD_LINE = "Line {line}: write key=value, not {text!r}."
APPLY_METADATA_DUPLICATE_KEY = "Line {line}: {key!r} is given twice."
APPLY_METADATA_REASON_KEY = "Line {line}: the reason goes in the Reason field."
UNKNOWN_CHARACTER = "No character with id {object_id!r}."
STALE_SNAPSHOT = (
    "The snapshot is stale: it was derived with policy {state_version}, the world is now "
    "at {policy_hash}. Refresh the snapshot to re-derive it."
)


class CharacterCreationForm(forms.ModelForm):
    """Create a character through ``create_character``, reporting its errors on the form.

    The service validates and writes in one step, so it runs once the form's own model
    validation passed: a ``ValidationError`` it raises becomes a form error (it wrote
    nothing), and on success the form's instance is the created character. The admin's
    ``changeform_view`` wraps the request in a transaction, so the service's atomic block
    nests as a savepoint.
    """

    class Meta:
        model = Character
        fields = ("world", "name")

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            self.instance = create_character(
                world_id=self.cleaned_data["world"].world_id, name=self.cleaned_data["name"]
            )
        except ValidationError as exc:
            for field_name, errors in exc.message_dict.items():
                self.add_error(field_name if field_name in self.fields else None, errors)


class ApplyEventForm(forms.Form):
    """Apply one event to one character through ``apply_event``, from its page.

    One optional number per active axis of the character's world (blank: no change).
    The form checks only what a browser can get wrong (numbers, ``key=value`` lines) and
    leaves every rule of the ledger (the event type's pattern, reserved types, at least
    one delta, metadata limits) to ``apply_event``, whose refusal ``add_ledger_error``
    shows on the field it names: the rules live in one place.

    Each rendered form carries a new idempotency key (hidden), kept when the bound form is
    shown again: submitting it twice (a double click, a retry after a lost connection)
    applies the event once.
    """

    DELTA_PREFIX = "delta_"

    idempotency_key = forms.CharField(
        widget=forms.HiddenInput,
        required=False,
        max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        initial=lambda: f"admin-{uuid.uuid4().hex}",
    )

    event_type = forms.CharField(
        help_text="A letter, then letters, digits or _ . : - (e.g. gm_adjustment)."
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why; recorded in the event's metadata as reason.",
    )
    metadata = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Optional further metadata, one key=value per line.",
    )

    def __init__(self, *args, axis_names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        # axis name -> its delta field's name
        self.delta_fields = {name: self.DELTA_PREFIX + name for name in axis_names}
        for name, field_name in self.delta_fields.items():
            self.fields[field_name] = forms.FloatField(
                required=False,
                label=f"{name} delta",
                widget=forms.NumberInput(attrs={"step": "any"}),
            )
        self.order_fields(["event_type", *self.delta_fields.values(), "reason", "metadata"])

    def clean_metadata(self) -> dict[str, str]:
        entries: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["metadata"].splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = (part.strip() for part in line.partition("="))
            if not sep or not key:
                raise ValidationError(
                    APPLY_METADATA_BAD_LINE.format(line=number, text=line), code="invalid"
                )
            if key == REASON_KEY:
                raise ValidationError(APPLY_METADATA_REASON_KEY.format(line=number), code="invalid")
            if key in entries:
                raise ValidationError(
                    APPLY_METADATA_DUPLICATE_KEY.format(line=number, key=key), code="invalid"
                )
            entries[key] = value
        return entries

    def deltas(self) -> dict[str, float]:
        """Return the deltas given, by axis name (call once the form is valid)."""
        return {
            name: self.cleaned_data[field_name]
            for name, field_name in self.delta_fields.items()
            if self.cleaned_data[field_name] is not None
        }

    def event_metadata(self) -> dict[str, str]:
        """Return the event's metadata: the reason and the extra lines."""
        return {REASON_KEY: self.cleaned_data["reason"], **self.cleaned_data["metadata"]}

    def add_ledger_error(self, exc: LedgerError) -> None:
        """Show a refusal of ``apply_event`` on the field of the request part it names."""
        location = exc.location
        field = None
        if location.part == "event_type":
            field = "event_type"
        elif location.part == "deltas":
            field = self.delta_fields.get(location.axis)
        elif location.part == "metadata":
            field = "reason" if location.key == REASON_KEY else "metadata"
        self.add_error(field, exc.message)


def _score_parameter(name: str, value: str) -> float:
    try:
        score = float(value)
    except ValueError:
        score = math.nan
    if not 0.0 <= score <= 1.0:
        raise IncorrectLookupParameters(f"{name} must be a score in [0, 1], not {value!r}")
    return score


class AxisScoreFilter(ParametersFilter):
    """Characters whose score on one axis (``?axis=<id>``) lies in a range.

    ``score_gte``, ``score_lt`` and ``score_lte`` bound it; the world page's label counts,
    histogram bins and clamped ends link here (a label is ``[its min, the next min)``).
    """

    title = "score"
    parameters = ("axis", "score_gte", "score_lt", "score_lte")
    LOOKUPS = {"score_gte": "gte", "score_lt": "lt", "score_lte": "lte"}

    def queryset(self, request, queryset):
        if "axis" not in self.used_parameters:
            if self.used_parameters:
                raise IncorrectLookupParameters("a score range needs an axis")
            return queryset
        scores = CharacterAxisScore.objects.filter(axis_id=self._axis.pk)
        for name, lookup in self.LOOKUPS.items():
            if name in self.used_parameters:
                bound = _score_parameter(name, self.used_parameters[name])
                scores = scores.filter(**{f"axis_score__{lookup}": bound})
        return queryset.filter(pk__in=scores.values("character_id"))

    @cached_property
    def _axis(self) -> Axis:
        axis_id = id_parameter("axis", self.used_parameters["axis"])
        axis = Axis.objects.filter(pk=axis_id).first()
        # An axis of a world the user may not see is, to them, no axis.
        if axis is None or not may_use_world(self.request.user, world_id=axis.world_id):
            raise IncorrectLookupParameters(f"axis {axis_id} does not exist")
        return axis

    def describe(self) -> str:
        bounds = [
            f"{symbol} {self.used_parameters[name]}"
            for name, symbol in (("score_gte", ">="), ("score_lt", "<"), ("score_lte", "<="))
            if name in self.used_parameters
        ]
        return f"{self._axis.name} {' and '.join(bounds) or 'scored'}"


class TouchedFilter(ParametersFilter):
    """Characters changed by events of one type of one world, optionally in a window.

    ``touched_world`` and ``touched_type`` name the type (type names are per world);
    ``touched_since`` and ``touched_until`` (ISO 8601) bound the events' recorded time, so
    the lookup reads the window's events through the (world, timestamp) index. The world
    page's "characters touched" counts link here.
    """

    title = "touched by"
    parameters = ("touched_world", "touched_type", "touched_since", "touched_until")

    def queryset(self, request, queryset):
        if not self.used_parameters:
            return queryset
        if not {"touched_world", "touched_type"} <= set(self.used_parameters):
            raise IncorrectLookupParameters("touched_world and touched_type go together")
        deltas = EventEntityAxisDelta.objects.filter(
            event__world_id=self.used_parameters["touched_world"],
            event__event_type__name=self.used_parameters["touched_type"],
        )
        for name, lookup in (("touched_since", "gte"), ("touched_until", "lt")):
            if name in self.used_parameters:
                instant = instant_parameter(name, self.used_parameters[name])
                deltas = deltas.filter(**{f"event__timestamp__{lookup}": instant})
        return queryset.filter(pk__in=deltas.values("character_id"))

    def describe(self) -> str:
        since = self.used_parameters.get("touched_since")
        return self.used_parameters["touched_type"] + (f" since {since}" if since else "")


@admin.register(Character)
class CharacterAdmin(admin.ModelAdmin):
    """The character inspector: axis state, snapshot, ledger history and score chart."""

    add_form = CharacterCreationForm
    list_display = ("name", "world", "state_seed", "state_updated_at", "snapshot_status")
    list_filter = (("world", AllowedWorldFilter), AxisScoreFilter, TouchedFilter)
    search_fields = ("name",)
    list_select_related = ("world",)
    ordering = ("id",)
    actions = ("refresh_snapshots", "verify_ledgers")
    add_fieldsets = (
        (
            None,
            {
                "fields": ("world", "name"),
                "description": (
                    "The character is created through the ledger: a character_created "
                    "event gives every active axis of the world its initial score."
                ),
            },
        ),
    )
    fieldsets = (
        (None, {"fields": ("name", "world", "created_at")}),
        (
            "Snapshot",
            {"fields": ("snapshot_status", "state_seed", "state_version", "state_updated_at")},
        ),
        (
            "Cached snapshots (derived from scores; never read to decide anything)",
            {"fields": (("base_state_pretty", "current_state_pretty"),)},
        ),
    )
    readonly_fields = (
        "world",
        "created_at",
        "snapshot_status",
        "state_seed",
        "state_version",
        "state_updated_at",
        "base_state_pretty",
        "current_state_pretty",
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("world")
        return limit_to_allowed_worlds(queryset, request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "world":
            kwargs["queryset"] = limit_to_allowed_worlds(World.objects.all(), request, field="pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_apply_event_permission(self, request, obj=None) -> bool:
        """Return whether the user may apply events; to ``obj`` (in its world) when given."""
        return (
            self.has_view_or_change_permission(request, obj)
            and request.user.has_perm(APPLY_PERMISSION)
            and (obj is None or may_use_world(request.user, world_id=obj.world_id))
        )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        # On add, CharacterCreationForm already created ``obj`` through the service.
        if change:
            super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        # The ledger refers to every character (each has a genesis event), and ledger
        # rows are never deleted; a character without deltas could only be a broken one.
        if obj is None:
            return False
        return (
            super().has_delete_permission(request, obj)
            and not EventEntityAxisDelta.objects.filter(character=obj).exists()
        )

    @admin.display(description="snapshot")
    def snapshot_status(self, obj):
        if not obj.snapshot_stale:
            return "current"
        return format_html('<strong class="pw-stale">{}</strong>', "stale")

    @admin.display(description="base_state_json")
    def base_state_pretty(self, obj):
        return format_html("<pre class='pw-json'>{}</pre>", _pretty(obj.base_state_json))

    @admin.display(description="current_state_json")
    def current_state_pretty(self, obj):
        return format_html("<pre class='pw-json'>{}</pre>", _pretty(obj.current_state_json))

    # The inspector panels ---------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context.update(self._inspector_context(request, obj, context.get("apply_form")))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _inspector_context(
        self, request, character: Character, apply_form: ApplyEventForm | None
    ) -> dict:
        registry = get_world_registry(character.world)
        if apply_form is None and self.has_apply_event_permission(request, character):
            apply_form = self._apply_form(character)
        as_of = _as_of(request)
        try:
            axes = axis_rows(character, registry, as_of=as_of)
        except AsOfError as exc:
            self.message_user(request, AS_OF_REFUSED.format(error=exc), messages.WARNING)
            as_of = None
            axes = axis_rows(character, registry)
        events, more_events = event_rows(character)
        charts, chart = score_history(character, registry)
        stale = character.snapshot_stale
        ledger_url = reverse("admin:ledger_event_changelist") + f"?character={character.pk}"
        return {
            "inspector": {
                "axes": axes,
                "as_of": as_of,
                "live_url": reverse("admin:worlds_character_change", args=[character.pk]),
                "stale": stale,
                "stale_message": STALE_SNAPSHOT.format(
                    state_version=character.state_version[:12] or "(none)",
                    policy_hash=character.world.policy_hash[:12],
                )
                if stale
                else "",
                "events": events,
                "more_events": more_events,
                "event_limit": INSPECTOR_EVENT_LIMIT,
                "ledger_url": ledger_url,
                # The API's export answers the admin's session: one file, streamed.
                "export_url": reverse("api-character-history-export", args=[character.pk]),
                # The world page: its population and events, to read this character against.
                "world_url": reverse("admin:worlds_world_change", args=[character.world_id])
                + "#distributions",
                "charts": charts,
                "chart": chart,
                "can_refresh": self.has_change_permission(request, character),
                "refresh_url": reverse(
                    "admin:worlds_character_refresh_snapshot", args=[character.pk]
                ),
                "verify_url": reverse("admin:worlds_character_verify_ledger", args=[character.pk]),
                "apply_form": apply_form,
                "apply_url": reverse("admin:worlds_character_apply_event", args=[character.pk]),
            }
        }

    # Actions ----------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/refresh-snapshot/",
                view(self.refresh_snapshot_view),
                name="worlds_character_refresh_snapshot",
            ),
            path(
                "<path:object_id>/verify-ledger/",
                view(self.verify_ledger_view),
                name="worlds_character_verify_ledger",
            ),
            path(
                "<path:object_id>/apply-event/",
                view(self.apply_event_view),
                name="worlds_character_apply_event",
            ),
            *super().get_urls(),
        ]

    def _posted_character(self, request, object_id, permission) -> Character:
        character = self.get_object(request, unquote(object_id))
        if character is None:
            raise Http404(f"No character with id {object_id!r}.")
        if not permission(request, character):
            raise PermissionDenied
        return character

    def refresh_snapshot_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        character = self._posted_character(request, object_id, self.has_change_permission)
        self._refresh(request, [character])
        return HttpResponseRedirect(reverse("admin:worlds_character_change", args=[character.pk]))

    def verify_ledger_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        character = self._posted_character(request, object_id, self.has_view_permission)
        self._verify(request, character)
        return HttpResponseRedirect(reverse("admin:worlds_character_change", args=[character.pk]))

    def apply_event_view(self, request, object_id):
        """Apply the posted event to the character, or show the form's errors on its page.

        POST only (``admin_view`` checks the CSRF token). The character is looked up in
        every world, so that one of a world the user may not use is refused (403), as the
        API does, rather than reported missing. On any error nothing was written and the
        character page is rendered again with the bound form.
        """
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_apply_event_permission(request):
            raise PermissionDenied
        character = self._any_character(object_id)
        if not self.has_apply_event_permission(request, character):
            raise PermissionDenied
        form = self._apply_form(character, data=request.POST)
        if form.is_valid():
            try:
                event = apply_event(
                    world_id=character.world_id,
                    event_type=form.cleaned_data["event_type"],
                    deltas={character.pk: form.deltas()},
                    metadata=form.event_metadata(),
                    idempotency_key=form.cleaned_data["idempotency_key"] or None,
                    actor=request.user,
                    source=Source.ADMIN,
                    request_id=getattr(request, "request_id", None),
                )
            except LedgerError as exc:
                form.add_ledger_error(exc)
            except OutcomeUnknown:
                form.add_error(None, APPLY_OUTCOME_UNKNOWN)
            else:
                done = (APPLY_ALREADY_DONE if event.replayed else APPLY_DONE).format(
                    event_id=event.pk, event_type=event.recorded.event_type, character=character
                )
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:worlds_character_change", args=[character.pk])
                )
        # The admin renders a change page for GET only; render it as for a GET, with the
        # bound form in place of a blank one.
        page_request = copy.copy(request)
        page_request.method = "GET"
        return self.change_view(page_request, object_id, extra_context={"apply_form": form})

    def _apply_form(self, character: Character, data=None) -> ApplyEventForm:
        registry = get_world_registry(character.world)
        names = [axis.name for axis in registry.active_axes]
        return ApplyEventForm(data, axis_names=names)

    def _any_character(self, object_id: str) -> Character:
        try:
            return Character.objects.select_related("world").get(pk=unquote(object_id))
        except (Character.DoesNotExist, ValueError, ValidationError):
            raise Http404(UNKNOWN_CHARACTER.format(object_id=object_id)) from None

    @admin.action(description="Refresh snapshots of selected characters", permissions=["change"])
    def refresh_snapshots(self, request, queryset):
        characters = self._bounded_selection(
            request, queryset.select_related("world").only("pk", "world"), "refresh_snapshots"
        )
        if characters is not None:
            self._refresh(request, characters)

    @admin.action(description="Verify the ledger of selected characters", permissions=["view"])
    def verify_ledgers(self, request, queryset):
        characters = self._bounded_selection(
            request, queryset.select_related("world"), "verify_ledger"
        )
        for character in characters or []:
            self._verify(request, character)

    def _bounded_selection(self, request, queryset, command: str) -> list[Character] | None:
        """Return the selected characters, or None (with a message) past the action limit.

        One bounded read: at most ``MAX_ACTION_CHARACTERS`` + 1 rows, whatever was selected
        ("select all" of a big world included).
        """
        characters = list(queryset.order_by("pk")[: MAX_ACTION_CHARACTERS + 1])
        if len(characters) <= MAX_ACTION_CHARACTERS:
            return characters
        action = (
            "refreshes the snapshots" if command == "refresh_snapshots" else "verifies the ledgers"
        )
        message = ACTION_TOO_MANY.format(
            limit=MAX_ACTION_CHARACTERS, action=action, command=command
        )
        self.message_user(request, message, messages.ERROR)
        return None

    def _refresh(self, request, characters: list[Character]) -> None:
        by_world: dict[str, list[int]] = defaultdict(list)
        worlds = {}
        for character in characters:
            by_world[character.world_id].append(character.pk)
            worlds[character.world_id] = character.world
        refreshed = sum(
            refresh_snapshots(world=worlds[world_id], character_ids=ids)
            for world_id, ids in sorted(by_world.items())
        )
        self.message_user(request, REFRESH_DONE.format(count=refreshed), messages.SUCCESS)

    def _verify(self, request, character: Character) -> None:
        discrepancies = verify_character(character)
        if not discrepancies:
            deltas = EventEntityAxisDelta.objects.filter(character=character).count()
            message = VERIFY_CLEAN.format(character=character, deltas=deltas)
            self.message_user(request, message, messages.SUCCESS)
            return
        self.message_user(
            request,
            VERIFY_FOUND.format(character=character, count=len(discrepancies)),
            messages.ERROR,
        )
        report_messages(request, messages.ERROR, [str(d) for d in discrepancies])


def _as_of(request) -> int | None:
    """Return the ``?as_of=<event id>`` of the page, or None for the live state."""
    value = request.GET.get("as_of", "")
    return int(value) if value.isdigit() and 0 < int(value) < 2**63 else None


def _pretty(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)

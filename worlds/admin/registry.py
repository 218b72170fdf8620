"""Worlds: validation reports, sync status against the files, and syncing from them.

A world's page also shows its Drift panel (``worlds.admin.drift``); who may apply events
in the world pauses and resumes its drift there, recorded as the actor.
"""

from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from access.roles import APPLY_PERMISSION, READ_PERMISSION
from access.selectors import may_use_world
from ledger.exceptions import LedgerError
from ledger.models import DriftState, Source
from ledger.services.drift import apply_drift, pause_drift, resume_drift
from ledger.stats import DEFAULT_WINDOW, parse_window
from pipeworks.admin import ReadOnlyAdmin, policy_files_hint, report_messages
from pipeworks.transactions import OutcomeUnknown, atomic_commit
from worlds.admin.drift import (
    DRIFT_ALREADY_PAUSED,
    DRIFT_DATABASE_FAILED,
    DRIFT_NOT_PAUSED,
    DRIFT_OUTCOME_UNKNOWN,
    DRIFT_PAUSED,
    DRIFT_PAUSED_LOGGED,
    DRIFT_RESUMED,
    DRIFT_RESUMED_LOGGED,
    drift_panel,
)
from worlds.admin.sync_preview import WORLD_FIELD, refusal_to_sync, render_preview
from worlds.admin.tuning import tuning_panels
from worlds.exceptions import PolicySyncError
from worlds.models import World
from worlds.policies import PolicyReport, load_world_policy
from worlds.selectors import SyncState, list_policy_reports, registry_sync_state
from worlds.services import sync_world_policies

SYNC_UNCHANGED = "World {world}: already in sync with the policy files; nothing was written."
SYNC_CHANGED = "World {world}: synced from the policy files ({changes})."
SYNC_LOGGED = "Synced from the policy files: {changes}"
SYNC_OUTCOME_UNKNOWN = (
    "The connection to the database was lost while the sync was being saved: it may or may "
    "not have been. Sync again: a sync converges to the policy files whatever was saved."
)
SYNC_DATABASE_FAILED = (
    "The database failed before the sync was saved ({error}); it was rolled back: nothing "
    "of it was written (drift due under a rule it changes may have been applied first, as "
    "a run would). Sync again."
)
SYNC_NOT_LOGGED = (
    "The sync was saved, but its entry in the admin log could not be written ({error})."
)
SYNC_PREVIEW_TITLE = "Preview sync of world {world}"
SYNC_PREVIEW_ALL_TITLE = "Preview sync of every world"
SYNC_PREVIEW_SELECTED_TITLE = "Preview sync of the selected worlds"


def _report_for(world_id: str) -> PolicyReport:
    return load_world_policy(Path(settings.PIPEWORKS_WORLDS_DIR) / world_id, world_id)


def _sync_status(registry_hash: str | None, report: PolicyReport) -> tuple[str, str]:
    """Return ``(state, text)``: how the registry compares with the files on disk."""
    state = registry_sync_state(report, registry_hash)
    texts = {
        SyncState.INVALID: f"policy files have {len(report.errors)} error(s); sync refused",
        SyncState.UNSYNCED: "not synced yet",
        SyncState.IN_SYNC: "in sync with the policy files",
        SyncState.OUT_OF_DATE: "out of date: the policy files changed since the last sync",
    }
    return state.value, texts[state]


def _report_axis(report: PolicyReport, name: str) -> dict:
    """Return one axis of a report with its bands in ordering order, for display.

    The report describes files that may be invalid, so every part is checked for shape.
    """
    ordering = report.ordering.get(name) or {}
    values = ordering.get("values")
    thresholds = report.thresholds.get(name)
    bands = []
    if isinstance(values, list):
        for label in values:
            band = thresholds.get(label) if isinstance(thresholds, dict) else None
            if isinstance(band, dict):
                bands.append({"label": label, "min": band.get("min"), "max": band.get("max")})
            else:
                bands.append({"label": label, "min": None, "max": None})
    return {
        "name": name,
        "type": ordering.get("type") or "(no ordering)",
        "bands": bands,
        "values": None if isinstance(values, list) else values,
    }


@admin.register(World)
class WorldAdmin(ReadOnlyAdmin):
    """Worlds, their validation reports and whether the registry mirrors their files."""

    change_list_template = "admin/worlds/world/change_list.html"
    change_form_template = "admin/worlds/world/change_form.html"
    list_display = ("world_id", "policy_version", "short_hash", "synced_at", "files_status")
    search_fields = ("world_id",)
    ordering = ("world_id",)
    actions = ("sync_selected",)
    fields = ("world_id", "policy_version", "policy_hash", "synced_at", "created_at")

    def get_source_note(self) -> str:
        return "Worlds are written only by syncing their policy files. " + policy_files_hint()

    def has_sync_permission(self, request) -> bool:
        # The registry is read-only in forms; syncing is the one way to change it.
        return request.user.has_perm("worlds.change_world")

    def has_drift_permission(self, request, obj=None) -> bool:
        """Pause and resume drift: who may apply events; in ``obj``'s world when given."""
        return (
            self.has_view_permission(request, obj)
            and request.user.has_perm(APPLY_PERMISSION)
            and (obj is None or may_use_world(request.user, world_id=obj.world_id))
        )

    def has_statistics_permission(self, request, obj) -> bool:
        """The world's population and events: who may read the ledger of ``obj``'s world.

        The world page itself is open to whoever may view worlds; its statistics name
        characters and events, so they follow the ledger's rules, as the stats API does.
        """
        return request.user.has_perm(READ_PERMISSION) and may_use_world(
            request.user, world_id=obj.world_id
        )

    @admin.display(description="policy hash")
    def short_hash(self, obj):
        return obj.policy_hash[:12]

    @admin.display(description="policy files")
    def files_status(self, obj):
        state, text = _sync_status(obj.policy_hash, _report_for(obj.world_id))
        return format_html('<span class="pw-sync pw-sync-{}">{}</span>', state, text)

    def changelist_view(self, request, extra_context=None):
        hashes = dict(World.objects.values_list("world_id", "policy_hash"))
        disk = []
        for report in list_policy_reports():
            state, text = _sync_status(hashes.get(report.world_id), report)
            disk.append({"report": report, "state": state, "status": text})
        context = {
            "disk_worlds": disk,
            "can_sync": self.has_sync_permission(request),
            "sync_all_url": reverse("admin:worlds_world_sync_all"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            report = _report_for(obj.world_id)
            state, text = _sync_status(obj.policy_hash, report)
            context.update(
                {
                    "report": report,
                    "report_axes": [_report_axis(report, name) for name in report.axes],
                    "sync_state": state,
                    "sync_status": text,
                    "can_sync": self.has_sync_permission(request),
                    "sync_url": reverse("admin:worlds_world_sync", args=[obj.pk]),
                    "drift": drift_panel(obj),
                    "tuning": (
                        tuning_panels(obj, window=self._window(request))
                        if self.has_statistics_permission(request, obj)
                        else None
                    ),
                    "can_drift": self.has_drift_permission(request, obj),
                    "pause_drift_url": reverse("admin:worlds_world_pause_drift", args=[obj.pk]),
                    "resume_drift_url": reverse("admin:worlds_world_resume_drift", args=[obj.pk]),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _window(self, request) -> str:
        """Return the statistics window the page asks for (``?window=``), the default if bad."""
        try:
            return parse_window(request.GET.get("window"))
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return DEFAULT_WINDOW

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("sync-all/", view(self.sync_all_view), name="worlds_world_sync_all"),
            path("<path:object_id>/sync/", view(self.sync_view), name="worlds_world_sync"),
            path(
                "<path:object_id>/drift/pause/",
                view(self.pause_drift_view),
                name="worlds_world_pause_drift",
            ),
            path(
                "<path:object_id>/drift/resume/",
                view(self.resume_drift_view),
                name="worlds_world_resume_drift",
            ),
            *super().get_urls(),
        ]

    def sync_view(self, request, object_id):
        """Preview syncing one world (GET), or sync it once that preview is confirmed (POST).

        The preview needs the view permission (its characters only for a user who may
        use the world); syncing, as before, the sync permission. A POST syncs only when
        it carries the policy hash the preview showed and the files still have it;
        otherwise it gets the preview again, saying why (``worlds.admin.sync_preview``).
        """
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        posting = request.method == "POST"
        if not (
            self.has_sync_permission(request) if posting else self.has_view_permission(request)
        ):
            raise PermissionDenied
        world = self.get_object(request, unquote(object_id))
        if world is None:
            raise Http404(f"No world {object_id!r}.")
        refusal = None
        if posting:
            refusal = refusal_to_sync(request, [world.world_id])
            if refusal is None:
                self._sync(request, [world.world_id])
                return HttpResponseRedirect(reverse("admin:worlds_world_change", args=[world.pk]))
        return render_preview(
            self,
            request,
            world_ids=[world.world_id],
            title=SYNC_PREVIEW_TITLE.format(world=world.world_id),
            confirm_url=reverse("admin:worlds_world_sync", args=[world.pk]),
            back_url=reverse("admin:worlds_world_change", args=[world.pk]),
            refusal=refusal,
            name_worlds=False,
        )

    def sync_all_view(self, request):
        """Preview syncing every world (GET), or sync once confirmed (POST), as ``sync_view``.

        A confirmation of the "sync selected" action's preview names its worlds.
        """
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        posting = request.method == "POST"
        if not (
            self.has_sync_permission(request) if posting else self.has_view_permission(request)
        ):
            raise PermissionDenied
        world_ids = request.POST.getlist(WORLD_FIELD) or None
        refusal = None
        if posting:
            refusal = refusal_to_sync(request, world_ids)
            if refusal is None:
                self._sync(request, world_ids)
                return HttpResponseRedirect(reverse("admin:worlds_world_changelist"))
        return self._preview_worlds(request, world_ids, refusal=refusal)

    @admin.action(description="Sync policies of selected worlds from files", permissions=["sync"])
    def sync_selected(self, request, queryset):
        """Show the preview of syncing the selected worlds; its form confirms the sync."""
        return self._preview_worlds(request, list(queryset.values_list("world_id", flat=True)))

    def _preview_worlds(self, request, world_ids: list[str] | None, *, refusal=None):
        title = SYNC_PREVIEW_ALL_TITLE if world_ids is None else SYNC_PREVIEW_SELECTED_TITLE
        return render_preview(
            self,
            request,
            world_ids=world_ids,
            title=title,
            confirm_url=reverse("admin:worlds_world_sync_all"),
            back_url=reverse("admin:worlds_world_changelist"),
            refusal=refusal,
        )

    def _sync(self, request, world_ids: list[str] | None) -> None:
        """Sync, then write the admin log entries; report what is known.

        The sync commits on its own (drift due under a changing rule is applied first, in
        its own chunks: an outer transaction would hold every chunk's locks at once), and
        is reported done only once its COMMIT succeeded.
        """
        try:
            result = sync_world_policies(world_ids=world_ids)
        except PolicySyncError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            report_messages(
                request,
                messages.ERROR,
                [f"{r.world_id}: {issue}" for r in exc.reports for issue in r.errors],
            )
            return
        except OutcomeUnknown:
            self.message_user(request, SYNC_OUTCOME_UNKNOWN, messages.ERROR)
            return
        except (OperationalError, InterfaceError, LedgerError) as exc:
            message = SYNC_DATABASE_FAILED.format(error=type(exc).__name__)
            self.message_user(request, message, messages.ERROR)
            return
        done = []
        for plan in result.plans:
            if plan.changed:
                changes = "; ".join(plan.describe_done())
                done.append(
                    (messages.SUCCESS, SYNC_CHANGED.format(world=plan.world_id, changes=changes))
                )
            else:
                done.append((messages.INFO, SYNC_UNCHANGED.format(world=plan.world_id)))
        try:
            # The admin log is the audit trail of staff actions outside the ledger.
            with atomic_commit():
                changed = [plan for plan in result.plans if plan.changed]
                synced = World.objects.in_bulk([plan.world_id for plan in changed])
                for plan in changed:
                    changes = "; ".join(plan.describe_done())
                    self.log_change(
                        request, synced[plan.world_id], SYNC_LOGGED.format(changes=changes)
                    )
        except (OperationalError, InterfaceError, OutcomeUnknown) as exc:
            message = SYNC_NOT_LOGGED.format(error=type(exc).__name__)
            done.append((messages.WARNING, message))
        for level, message in done:
            self.message_user(request, message, level)

    # Drift ------------------------------------------------------------------------------

    def pause_drift_view(self, request, object_id):
        """Apply the drift due, then pause the world's drift; POST only (CSRF checked)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        world = self._drift_world(request, object_id)
        try:
            # The catch-up runs first in its own chunked transactions, as a cron run
            # would; the pause and its admin log entry then commit together.
            caught_up = apply_drift(
                world_id=world.world_id,
                actor=request.user,
                source=Source.ADMIN,
                request_id=getattr(request, "request_id", None),
            )
            with atomic_commit():
                run = pause_drift(
                    world_id=world.world_id,
                    actor=request.user,
                    source=Source.ADMIN,
                    request_id=getattr(request, "request_id", None),
                )
                deltas = caught_up.deltas + run.deltas
                if not run.paused:
                    self.log_change(request, world, DRIFT_PAUSED_LOGGED.format(deltas=deltas))
        except (LedgerError, OutcomeUnknown, OperationalError, InterfaceError) as exc:
            self._drift_failed(request, world, exc, "paused")
        else:
            if run.paused:
                state = DriftState.objects.filter(world=world).first()
                by = (state.paused_by if state else "") or "?"
                message = DRIFT_ALREADY_PAUSED.format(world=world.world_id, by=by)
                self.message_user(request, message, messages.INFO)
            else:
                message = DRIFT_PAUSED.format(world=world.world_id, deltas=deltas)
                self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:worlds_world_change", args=[world.pk]))

    def resume_drift_view(self, request, object_id):
        """Resume the world's drift, skipping the periods that passed; POST only."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        world = self._drift_world(request, object_id)
        try:
            with atomic_commit():
                resumed = resume_drift(
                    world_id=world.world_id, actor=request.user, source=Source.ADMIN
                )
                if resumed:
                    self.log_change(request, world, DRIFT_RESUMED_LOGGED)
        except (LedgerError, OutcomeUnknown, OperationalError, InterfaceError) as exc:
            self._drift_failed(request, world, exc, "resumed")
        else:
            if resumed:
                message = DRIFT_RESUMED.format(world=world.world_id)
                self.message_user(request, message, messages.SUCCESS)
            else:
                message = DRIFT_NOT_PAUSED.format(world=world.world_id)
                self.message_user(request, message, messages.INFO)
        return HttpResponseRedirect(reverse("admin:worlds_world_change", args=[world.pk]))

    def _drift_world(self, request, object_id) -> World:
        """Return the world a drift button posts to, or refuse it (403, 404).

        ``WorldAdmin`` lists every world, so a world the user may not use is found and
        refused (403), as the character and event pages refuse theirs.
        """
        if not self.has_drift_permission(request):
            raise PermissionDenied
        world = self.get_object(request, unquote(object_id))
        if world is None:
            raise Http404(f"No world {object_id!r}.")
        if not self.has_drift_permission(request, world):
            raise PermissionDenied
        return world

    def _drift_failed(self, request, world: World, exc: Exception, done: str) -> None:
        if isinstance(exc, LedgerError):
            message = exc.message
        elif isinstance(exc, OutcomeUnknown):
            message = DRIFT_OUTCOME_UNKNOWN.format(world=world.world_id, done=done)
        else:
            error = type(exc).__name__
            message = DRIFT_DATABASE_FAILED.format(error=error, world=world.world_id, done=done)
        self.message_user(request, message, messages.ERROR)

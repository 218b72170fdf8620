"""The "Preview sync" page: what syncing policy files would do, and the confirmation.

The world page's sync button, the Worlds page's "sync all" button and the "sync selected"
action all show this page first (``preview_policy_sync``: the steps and their impact on
the characters, read only); its form confirms the sync and carries the policy hash of
every world previewed. ``WorldAdmin`` syncs only when those hashes are the files' hashes
still: files edited between the preview and the confirmation are previewed again, never
synced unseen.
"""

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.template.response import TemplateResponse

from access.selectors import may_use_world
from pipeworks.admin import report_messages
from worlds.exceptions import PolicySyncError
from worlds.policies import discover_worlds, load_world_policy
from worlds.services import preview_policy_sync

HASH_FIELD = "policy_hash"
"""The confirmation form's field: one ``<world_id>:<policy hash>`` per world previewed."""
WORLD_FIELD = "world"
"""The confirmation form's field naming each world of a selection (none: every world)."""

SYNC_CONFIRM_FIRST = "Nothing was synced: review below what the sync would do, then confirm it."
SYNC_FILES_CHANGED = (
    "The policy files of {worlds} changed since the preview you confirmed; nothing was "
    "synced. Below is the preview of the files as they are now: review it and confirm again."
)
SYNC_PREVIEW_UP_TO_DATE = (
    "World {world}: already in sync with the policy files; a sync would write nothing."
)
SYNC_PREVIEW_HIDDEN = (
    "World {world}: its impact on characters is not shown, you may not use this world."
)


def file_hashes(world_ids: list[str] | None) -> dict[str, str]:
    """Return the policy hash of each world's files now (every world on disk by default).

    A world whose files cannot be read has the empty hash; the sync then refuses it.
    """
    directory = Path(settings.PIPEWORKS_WORLDS_DIR)
    selected = world_ids or discover_worlds(directory)
    return {
        world_id: load_world_policy(directory / world_id, world_id).policy_hash or ""
        for world_id in selected
    }


def confirmed_hashes(request) -> dict[str, str]:
    """Return the ``{world_id: hash}`` a confirmation form carried (empty: not a confirmation)."""
    confirmed = {}
    for value in request.POST.getlist(HASH_FIELD):
        world_id, _, policy_hash = value.partition(":")
        confirmed[world_id] = policy_hash
    return confirmed


def refusal_to_sync(request, world_ids: list[str] | None) -> str | None:
    """Return why a POST may not sync ``world_ids`` yet, or None when it may.

    It may when it confirms a preview of exactly these worlds' files as they are now;
    a POST that confirms no preview, or one whose files changed since, is shown the
    preview instead, with this message.
    """
    confirmed = confirmed_hashes(request)
    if not confirmed:
        return SYNC_CONFIRM_FIRST
    now = file_hashes(world_ids)
    differ = sorted(
        world_id
        for world_id in confirmed.keys() | now.keys()
        if confirmed.get(world_id) != now.get(world_id)
    )
    return SYNC_FILES_CHANGED.format(worlds=", ".join(differ)) if differ else None


def render_preview(
    admin,
    request,
    *,
    world_ids: list[str] | None,
    title: str,
    confirm_url: str,
    back_url: str,
    refusal: str | None = None,
    name_worlds: bool = True,
) -> TemplateResponse:
    """Answer with the preview of syncing ``world_ids`` (every world when None).

    ``refusal`` (from ``refusal_to_sync``) says why a POST was shown the preview instead
    of syncing. The confirmation names the worlds of a selection (``name_worlds``) unless
    its URL does. Invalid files are reported as the sync reports them, and offer no
    confirmation.
    """
    if refusal is not None:
        admin.message_user(request, refusal, messages.WARNING)
    worlds = []
    can_confirm = False
    try:
        preview = preview_policy_sync(world_ids=world_ids)
    except PolicySyncError as exc:
        admin.message_user(request, exc.message, messages.ERROR)
        report_messages(
            request,
            messages.ERROR,
            [f"{r.world_id}: {issue}" for r in exc.reports for issue in r.errors],
        )
    else:
        for plan in preview.plans:
            visible = may_use_world(request.user, world_id=plan.world_id)
            if not plan.changed:
                message = SYNC_PREVIEW_UP_TO_DATE.format(world=plan.world_id)
                admin.message_user(request, message, messages.INFO)
            elif not visible:
                message = SYNC_PREVIEW_HIDDEN.format(world=plan.world_id)
                admin.message_user(request, message, messages.INFO)
            worlds.append(
                {
                    "world_id": plan.world_id,
                    "plan": plan,
                    "changes": plan.describe(),
                    "impact": preview.impacts[plan.world_id] if visible else None,
                    "confirm": f"{plan.world_id}:{plan.report.policy_hash}",
                }
            )
        can_confirm = preview.changed and admin.has_sync_permission(request)
    context = {
        **admin.admin_site.each_context(request),
        "opts": admin.model._meta,
        "title": title,
        "worlds": worlds,
        "selected": (world_ids or []) if name_worlds else [],
        "can_confirm": can_confirm,
        "confirm_url": confirm_url,
        "back_url": back_url,
        "hash_field": HASH_FIELD,
        "world_field": WORLD_FIELD,
    }
    return TemplateResponse(request, "admin/worlds/world/sync_preview.html", context)

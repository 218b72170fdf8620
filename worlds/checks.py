"""System checks of the worlds: their policy files, and whether the registry mirrors them.

A world whose policy files are invalid stops ``manage.py check`` (an ordinary check: it
reads files only, parsed once per process and file content). Whether the registry is up
to date needs the database, so that check is tagged ``database`` and runs, as Django's
own database checks do, only when a database is asked for (``check --database default``,
``migrate``, the test runner).
"""

from django.core.checks import Error, Tags, Warning, register

from worlds.selectors import (
    SyncState,
    get_registry_hashes,
    list_policy_reports,
    registry_sync_state,
)


@register()
def check_world_policies(app_configs, **kwargs):
    """Fail on invalid policy files."""
    return [
        Error(
            f"world {report.world_id!r}: policy has {len(report.errors)} error(s): "
            + "; ".join(str(issue) for issue in report.errors),
            hint="Fix the policy files; `manage.py sync_policies` prints the full report.",
            id="worlds.E001",
        )
        for report in list_policy_reports()
        if not report.is_valid
    ]


@register(Tags.database)
def check_registry_in_sync(app_configs, databases=None, **kwargs):
    """Warn when a database's registry does not mirror a world's valid policy files."""
    messages = []
    for alias in databases or []:
        hashes = get_registry_hashes(using=alias)
        if hashes is None:  # unreachable or not migrated yet: nothing to compare
            continue
        for report in list_policy_reports():
            state = registry_sync_state(report, hashes.get(report.world_id))
            if state in (SyncState.UNSYNCED, SyncState.OUT_OF_DATE):
                messages.append(
                    Warning(
                        f"world {report.world_id!r}: the axis registry is out of date "
                        "(its policy hash differs from the files)",
                        hint=f"Run `manage.py sync_policies {report.world_id}`.",
                        id="worlds.W001",
                    )
                )
    return messages

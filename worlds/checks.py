"""System checks: a world whose policy files are invalid stops `manage.py check`."""

from django.core.checks import Error, Warning, register

from worlds.selectors import get_registry_hashes, list_policy_reports


@register()
def check_world_policies(app_configs, **kwargs):
    """Fail on invalid policy files; warn when the registry does not mirror the files."""
    messages = []
    reports = list_policy_reports()
    hashes = get_registry_hashes()
    for report in reports:
        if not report.is_valid:
            messages.append(
                Error(
                    f"world {report.world_id!r}: policy has {len(report.errors)} error(s): "
                    + "; ".join(str(issue) for issue in report.errors),
                    hint="Fix the policy files; `manage.py sync_policies` prints the full report.",
                    id="worlds.E001",
                )
            )
        elif hashes is not None and hashes.get(report.world_id) != report.policy_hash:
            messages.append(
                Warning(
                    f"world {report.world_id!r}: the axis registry is out of date "
                    "(its policy hash differs from the files)",
                    hint=f"Run `manage.py sync_policies {report.world_id}`.",
                    id="worlds.W001",
                )
            )
    return messages

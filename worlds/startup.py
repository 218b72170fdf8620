"""The policy report a server logs once when it starts."""

import logging

from worlds.selectors import (
    SyncState,
    get_registry_hashes,
    list_policy_reports,
    registry_sync_state,
)

logger = logging.getLogger("pipeworks.policy")


def log_policy_reports() -> None:
    """Log each world's validation report and whether the registry mirrors it."""
    hashes = get_registry_hashes()
    reports = list_policy_reports()
    if not reports:
        logger.warning("no worlds found: the server has no policies to serve")
    for report in reports:
        if not report.is_valid:
            logger.error("world %s is NOT ready:\n%s", report.world_id, report.format_text())
            continue
        if hashes is None:
            registry = "registry status unknown (database unavailable)"
        elif registry_sync_state(report, hashes.get(report.world_id)) is SyncState.IN_SYNC:
            registry = "registry in sync"
        else:
            registry = f"registry OUT OF DATE: run `manage.py sync_policies {report.world_id}`"
        logger.info(
            "world %s ready: %d axes (%s), version %s, hash %s, %d warning(s); %s",
            report.world_id,
            len(report.axes),
            ", ".join(report.axes),
            report.version,
            report.policy_hash[:12],
            len(report.warnings),
            registry,
        )
        for issue in report.warnings:
            logger.warning("world %s: %s", report.world_id, issue)

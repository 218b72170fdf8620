"""Errors raised by the world services."""

from worlds.policies import PolicyReport


class PolicySyncError(Exception):
    """Policies could not be synced; nothing was written.

    ``reports`` holds the validation report of every world that has errors.
    """

    def __init__(self, message: str, *, reports: list[PolicyReport] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reports = reports or []

"""Argument checks shared by the ledger maintenance commands."""

from django.core.management.base import CommandError

from worlds.models import Character, World


def check_selection(world_ids: list[str], character_id: int | None) -> None:
    """Refuse unknown worlds or an unknown character before any work starts."""
    unknown = sorted(set(world_ids) - set(World.objects.values_list("pk", flat=True)))
    if unknown:
        raise CommandError(f"unknown world(s): {', '.join(unknown)}")
    if character_id is not None and not Character.objects.filter(pk=character_id).exists():
        raise CommandError(f"unknown character {character_id}")

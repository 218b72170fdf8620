"""`manage.py create_api_key`: make a server-to-server API key and print it, once."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from access.services import create_api_key
from pipeworks.commands import DatabaseFailureMixin
from worlds.models import World

CREATE_KEY_UNKNOWN_OWNER = "no user {owner!r}: create the service account first"
CREATE_KEY_UNKNOWN_WORLDS = "unknown world(s): {worlds}"


class Command(DatabaseFailureMixin, BaseCommand):
    transactions = "one"
    advice = "Run it again."
    unknown_advice = (
        "The key may exist although its secret was never shown: revoke the owner's keys "
        "of this name in the admin (API keys), then create another."
    )
    help = (
        "Create an API key for a user (a service account or a person) and print it: it is "
        "stored only as a hash and cannot be shown again. The key reads; --apply and "
        "--reverse let it write, on top of the owner's own permissions."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", required=True, help="Username the key acts as.")
        parser.add_argument("--name", required=True, help="What the key is for (50 characters).")
        parser.add_argument("--apply", action="store_true", help="May apply events.")
        parser.add_argument("--reverse", action="store_true", help="May reverse events.")
        parser.add_argument(
            "--world", action="append", default=[], help="Limit to this world (repeatable)."
        )
        parser.add_argument(
            "--expires-in-days", type=int, default=90, help="Lifetime in days (default 90)."
        )

    def handle(self, *args, owner, name, apply, reverse, world, expires_in_days, **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(CREATE_KEY_UNKNOWN_OWNER.format(owner=owner))
        worlds = list(World.objects.filter(pk__in=world))
        missing = sorted(set(world) - {w.pk for w in worlds})
        if missing:
            raise CommandError(CREATE_KEY_UNKNOWN_WORLDS.format(worlds=", ".join(missing)))
        if expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1")
        _, key = create_api_key(
            owner=user,
            name=name[:50],
            may_apply=apply,
            may_reverse=reverse,
            worlds=worlds,
            expires_at=timezone.now() + timedelta(days=expires_in_days),
        )
        self.stdout.write(key)

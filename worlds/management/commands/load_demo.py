"""`manage.py load_demo`: demo characters and a staff login for trying the inspector."""

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from worlds.demo import load_demo_data


class Command(BaseCommand):
    help = (
        "Create demo characters with an event history (once) and reset the password of the "
        "demo staff login, printing it. Run sync_policies first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="Staff login to create/reset.")
        parser.add_argument("--no-login", action="store_true", help="Do not touch any login.")

    def handle(self, *args, username, no_login, **options):
        if not no_login:
            self._check_username(username)
        try:
            created = load_demo_data()
        except ValidationError as exc:
            raise CommandError(
                f"{'; '.join(exc.messages)}: run `manage.py sync_policies` first"
            ) from exc
        self.stdout.write(f"demo data: {len(created)} character(s) created")
        if no_login:
            return
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"staff login: {username} / {password}"))

    @staticmethod
    def _check_username(username: str) -> None:
        field = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD)
        try:
            field.clean(username, None)
        except ValidationError as exc:
            raise CommandError(f"--username {username!r}: {'; '.join(exc.messages)}") from exc

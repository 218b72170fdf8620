"""`manage.py load_demo`: demo characters and logins (admin and one per role) to try it."""

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import CommandError

from pipeworks.commands import DatabaseFailureMixin, NotInProductionCommand
from worlds.demo import DEMO_USERS, create_demo_users, load_demo_data

LOAD_DEMO_RESERVED_USERNAME = "is the login of the demo {role}; choose another"


class Command(DatabaseFailureMixin, NotInProductionCommand):
    transactions = "several"
    advice = "Run it again: it creates only the demo characters and users that are missing."
    unknown_advice = (
        "Run it again: it creates only the demo characters that are missing (the demo "
        "users get new passwords)."
    )
    help = (
        "Create demo characters with an event history (once) and reset the passwords of the "
        "demo staff login (a superuser) and of one login per role (inspector, game master), "
        "printing them. Run sync_policies first."
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
        try:
            logins = create_demo_users()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"staff login: {username} / {password}"))
        for role, role_username, role_password in logins:
            self.stdout.write(
                self.style.SUCCESS(f"{role} login: {role_username} / {role_password}")
            )

    @staticmethod
    def _check_username(username: str) -> None:
        field = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD)
        try:
            field.clean(username, None)
        except ValidationError as exc:
            raise CommandError(f"--username {username!r}: {'; '.join(exc.messages)}") from exc
        # The superuser must not be one of the role logins, which are reset to non-superusers.
        for role, role_username, _ in DEMO_USERS:
            if username == role_username:
                raise CommandError(
                    f"--username {username!r}: " + LOAD_DEMO_RESERVED_USERNAME.format(role=role)
                )

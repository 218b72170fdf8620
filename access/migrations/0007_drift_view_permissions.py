"""Let both roles view the drift tables (``ledger.DriftClock``, ``ledger.DriftState``).

Inspectors view every model of the inspected apps (``access.roles.INSPECTED_APPS``), and
Game masters everything Inspectors do; drift added two models to ``ledger``. The helper
of ``0002_roles`` creates the permissions when post_migrate has not yet.
"""

import importlib

from django.db import migrations

roles = importlib.import_module("access.migrations.0002_roles")

NEW_MODELS = ("driftclock", "driftstate")


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    using = schema_editor.connection.alias
    permissions = [
        roles.ensure_permission(apps, using, "ledger", model, f"view_{model}")
        for model in NEW_MODELS
    ]
    for group in Group.objects.using(using).filter(name__in=[roles.INSPECTORS, roles.GAME_MASTERS]):
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    using = schema_editor.connection.alias
    permissions = Permission.objects.using(using).filter(
        content_type__app_label="ledger", codename__in=[f"view_{m}" for m in NEW_MODELS]
    )
    for group in Group.objects.using(using).filter(name__in=[roles.INSPECTORS, roles.GAME_MASTERS]):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0006_login_lockout"),
        ("ledger", "0006_drift"),
    ]

    operations = [migrations.RunPython(grant, revoke)]

"""Create the two roles, Inspectors and Game masters, as groups with their permissions.

Permissions are normally created by a post_migrate handler, after every migration has
run, so on a fresh database they do not exist yet here: the content types and
permissions needed are created first (get_or_create, through the historical models, with
the names Django itself would give them; the post_migrate handler then finds them and
adds nothing twice).

The names and codenames are copied from ``access/roles.py`` and the models of the
worlds, axes and ledger apps as they are at this migration: a migration must not import
code that may change later. Keep them in step with ``access.roles`` by hand.
"""

from django.db import migrations

# Copied from access.roles (INSPECTORS, GAME_MASTERS).
INSPECTORS = "Inspectors"
GAME_MASTERS = "Game masters"

# Every model of the inspected apps (access.roles.INSPECTED_APPS); Inspectors view them all.
VIEWED_MODELS = {
    "worlds": ("world", "character"),
    "axes": ("axis", "axisvalue", "characteraxisscore"),
    "ledger": ("eventtype", "event", "evententityaxisdelta", "eventmetadata"),
}
# Copied from access.roles.GAME_MASTER_EXTRA_PERMISSIONS: (app label, model, codename).
GAME_MASTER_EXTRA = (
    ("ledger", "event", "apply_event"),
    ("ledger", "event", "reverse_event"),
)


def ensure_permission(apps, using, app_label, model_name, codename):
    """Return the permission, creating it (and its content type) when missing."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    opts = apps.get_model(app_label, model_name)._meta
    content_type, _ = ContentType.objects.using(using).get_or_create(
        app_label=app_label, model=opts.model_name
    )
    # The name Django's create_permissions would give: the model's own for a custom
    # permission, "Can <action> <verbose name>" for a default one.
    name = dict(opts.permissions).get(codename)
    if name is None:
        action = codename.removesuffix(f"_{opts.model_name}")
        name = f"Can {action} {opts.verbose_name_raw}"
    permission, _ = Permission.objects.using(using).get_or_create(
        content_type=content_type, codename=codename, defaults={"name": name}
    )
    return permission


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    using = schema_editor.connection.alias
    view = [
        ensure_permission(apps, using, app_label, model_name, f"view_{model_name}")
        for app_label, model_names in VIEWED_MODELS.items()
        for model_name in model_names
    ]
    extra = [ensure_permission(apps, using, *spec) for spec in GAME_MASTER_EXTRA]
    for name, permissions in ((INSPECTORS, view), (GAME_MASTERS, view + extra)):
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set(permissions)


def delete_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    using = schema_editor.connection.alias
    Group.objects.using(using).filter(name__in=[INSPECTORS, GAME_MASTERS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("worlds", "0001_initial"),
        ("axes", "0001_initial"),
        ("ledger", "0004_event_provenance"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]

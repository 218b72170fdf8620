"""The roles migration: both groups, with exactly the intended permissions."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from access.roles import (
    APPLY_PERMISSION,
    GAME_MASTER_EXTRA_PERMISSIONS,
    GAME_MASTERS,
    INSPECTED_APPS,
    INSPECTORS,
    READ_PERMISSION,
    REVERSE_PERMISSION,
)

VIEW_PERMISSIONS = {
    "worlds.view_world",
    "worlds.view_character",
    "axes.view_axis",
    "axes.view_axisvalue",
    "axes.view_characteraxisscore",
    "ledger.view_eventtype",
    "ledger.view_event",
    "ledger.view_evententityaxisdelta",
    "ledger.view_eventmetadata",
    "ledger.view_driftclock",
    "ledger.view_driftstate",
}


def names_of(group: Group) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_view_permissions_cover_every_model_of_the_inspected_apps():
    expected = {
        f"{label}.view_{model._meta.model_name}"
        for label in INSPECTED_APPS
        for model in apps.get_app_config(label).get_models()
    }

    assert expected == VIEW_PERMISSIONS
    assert READ_PERMISSION in VIEW_PERMISSIONS
    assert set(GAME_MASTER_EXTRA_PERMISSIONS) == {APPLY_PERMISSION, REVERSE_PERMISSION}


@pytest.mark.django_db
def test_inspectors_may_view_every_inspected_model_and_nothing_else():
    assert names_of(Group.objects.get(name=INSPECTORS)) == VIEW_PERMISSIONS


@pytest.mark.django_db
def test_game_masters_may_view_everything_inspectors_do_and_apply_and_reverse_events():
    assert names_of(Group.objects.get(name=GAME_MASTERS)) == VIEW_PERMISSIONS | {
        APPLY_PERMISSION,
        REVERSE_PERMISSION,
    }


@pytest.mark.django_db
def test_the_permissions_the_migration_created_carry_the_names_django_gives_them():
    for permission in Permission.objects.filter(group__name=GAME_MASTERS):
        opts = permission.content_type.model_class()._meta
        custom = dict(opts.permissions)
        action = permission.codename.removesuffix(f"_{opts.model_name}")
        expected = custom.get(permission.codename, f"Can {action} {opts.verbose_name_raw}")
        assert permission.name == expected


@pytest.mark.django_db(transaction=True)
def test_the_migration_creates_the_permissions_it_needs_and_reverses_cleanly():
    """On a fresh database the permissions do not exist yet when the migration runs."""
    executor = MigrationExecutor(connection)
    executor.migrate([("access", "0001_initial")])
    assert not Group.objects.filter(name__in=[INSPECTORS, GAME_MASTERS]).exists()

    # As before post_migrate ever ran: no permission of the inspected apps.
    Permission.objects.filter(content_type__app_label__in=INSPECTED_APPS).delete()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("access"))

    assert names_of(Group.objects.get(name=INSPECTORS)) == VIEW_PERMISSIONS
    assert names_of(Group.objects.get(name=GAME_MASTERS)) == VIEW_PERMISSIONS | {
        APPLY_PERMISSION,
        REVERSE_PERMISSION,
    }

"""The inspector's admin site is Django's admin.site, built once, with its own headers."""

from django.contrib import admin

from pipeworks.admin import InspectorAdminSite
from worlds.models import Character, World


def test_the_inspector_site_is_admin_site_with_every_app_registered():
    assert isinstance(admin.site._wrapped, InspectorAdminSite)
    assert admin.site.is_registered(World)
    assert admin.site.is_registered(Character)
    assert (admin.site.site_header, admin.site.site_title, admin.site.index_title) == (
        "PipeWorks Axis inspector",
        "PipeWorks Axis",
        "Character state ledger",
    )


def test_the_admin_pages_show_the_inspector_headers(admin_client):
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Character state ledger | PipeWorks Axis</title>" in html
    assert '<a href="/admin/">PipeWorks Axis inspector</a>' in html

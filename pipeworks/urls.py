"""URL routes: Django admin is the inspector."""

from django.contrib import admin
from django.urls import path

admin.site.site_header = "PipeWorks Axis inspector"
admin.site.site_title = "PipeWorks Axis"
admin.site.index_title = "Character state ledger"

urlpatterns = [
    path("admin/", admin.site.urls),
]

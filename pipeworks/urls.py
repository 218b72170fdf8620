"""URL routes: Django admin is the inspector; the staff REST API lives beside it.

The API routes come before ``admin.site.urls``: the admin's catch-all view would
otherwise answer every unknown /admin/ path itself.
"""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from worlds import health

urlpatterns = [
    path("admin/", include("ledger.urls")),
    path("admin/", include("worlds.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Probes for load balancers and orchestrators: no authentication, nothing revealed.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

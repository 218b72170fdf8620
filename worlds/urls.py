"""Routes of the worlds API, mounted under /admin/."""

from django.urls import path

from worlds import views

urlpatterns = [
    path("worlds/", views.WorldListView.as_view(), name="api-world-list"),
    path("worlds/<str:world_id>/policy", views.WorldPolicyView.as_view(), name="api-world-policy"),
    path(
        "worlds/<str:world_id>/policy/impact",
        views.WorldPolicyImpactView.as_view(),
        name="api-world-policy-impact",
    ),
    path(
        "worlds/<str:world_id>/characters",
        views.WorldCharactersView.as_view(),
        name="api-world-characters",
    ),
]

"""Routes of the ledger API, mounted under /admin/ (no trailing slashes, as documented)."""

from django.urls import path

from ledger import views

urlpatterns = [
    path(
        "characters/<str:character_id>/axis-state",
        views.CharacterAxisStateView.as_view(),
        name="api-character-axis-state",
    ),
    path(
        "characters/<str:character_id>/axis-events",
        views.CharacterEventsView.as_view(),
        name="api-character-axis-events",
    ),
    path(
        "characters/<str:character_id>/history.jsonl",
        views.CharacterHistoryExportView.as_view(),
        name="api-character-history-export",
    ),
    path("events", views.EventsView.as_view(), name="api-events"),
    path("events:batch", views.EventsBatchView.as_view(), name="api-events-batch"),
    path("events/<str:event_id>", views.EventDetailView.as_view(), name="api-event-detail"),
    path(
        "events/<str:event_id>/reverse", views.ReverseEventView.as_view(), name="api-event-reverse"
    ),
    path("worlds/<str:world_id>/drift", views.WorldDriftView.as_view(), name="api-world-drift"),
    path("worlds/<str:world_id>/events", views.WorldFeedView.as_view(), name="api-world-feed"),
    path("worlds/<str:world_id>/stats", views.WorldStatsView.as_view(), name="api-world-stats"),
]

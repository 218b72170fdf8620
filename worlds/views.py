"""REST views of worlds: their policy files and how the registry mirrors them."""

from django.contrib import admin
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from access.permissions import CanReadLedger, request_world_ids, require_world
from pipeworks.api import AUTH_ERRORS, ApiError, StaffAPIView, error_response
from worlds.selectors import get_world_status, list_world_statuses
from worlds.serializers import PolicyReportSerializer, WorldListSerializer

API_UNKNOWN_WORLD = "unknown world {world_id!r}: no policy files and not in the database"


def wants_html(request) -> bool:
    """Return whether the client is a browser asking for a page rather than for JSON."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return "text/html" in accept and "application/json" not in accept


class WorldListView(StaffAPIView):
    """The API's world list, at /admin/worlds/ as specified.

    That path is also the admin's index page of the ``worlds`` app (its breadcrumbs link
    it), so a browser asking for HTML gets that page and every other client the JSON.
    """

    permission_classes = [CanReadLedger]

    def dispatch(self, request, *args, **kwargs):
        if wants_html(request):
            return admin.site.admin_view(admin.site.app_index)(request, app_label="worlds")
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="world_list",
        tags=["worlds"],
        summary="Every world, in the policy files or the database",
        description=(
            "Each world's file and registry versions and hashes, whether they are in "
            "sync, whether the files are valid, and its axis and character counts. A user "
            "limited to some worlds sees those only."
        ),
        responses={200: WorldListSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request) -> Response:
        allowed = request_world_ids(request)
        worlds = [
            world for world in list_world_statuses() if allowed is None or world.world_id in allowed
        ]
        return Response(WorldListSerializer({"worlds": worlds}).data)


class WorldPolicyView(StaffAPIView):
    permission_classes = [CanReadLedger]

    @extend_schema(
        operation_id="world_policy",
        tags=["worlds"],
        summary="A world's policy validation report",
        description=(
            "The validation report of the world's policy files (axes, ordering, "
            "thresholds, missing components, errors, warnings, hash, version), with the "
            "hash the database holds and whether the two agree."
        ),
        parameters=[
            OpenApiParameter(
                "world_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The world's id."
            )
        ],
        responses={
            200: PolicyReportSerializer,
            **AUTH_ERRORS,
            404: error_response("Neither policy files nor the database know this world."),
        },
    )
    def get(self, request: Request, world_id: str) -> Response:
        require_world(request, world_id=world_id)
        world = get_world_status(world_id)
        if world is None:
            raise ApiError(
                API_UNKNOWN_WORLD.format(world_id=world_id),
                status_code=status.HTTP_404_NOT_FOUND,
                code="unknown_world",
            )
        report = {
            **world.report.as_dict(),
            "registry_hash": world.registry_hash,
            "in_sync": world.in_sync,
        }
        return Response(PolicyReportSerializer(report).data)

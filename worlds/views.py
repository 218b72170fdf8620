"""REST views of worlds: their policy files, how the registry mirrors them, and their
characters (created through ``create_character``, read many at once)."""

import logging

from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import InterfaceError, OperationalError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from access.permissions import CanApplyEvents, CanReadLedger, request_world_ids, require_world
from ledger.exceptions import LedgerError
from ledger.selectors import (
    MAX_CHARACTER_STATES,
    get_character_state,
    list_character_states,
    serialize_character_state,
)
from ledger.serializers import (
    CharacterStateSerializer,
    CharacterStatesQuerySerializer,
    CharacterStatesSerializer,
    CreateCharacterSerializer,
)
from ledger.views import (
    IDEMPOTENCY_KEY_HEADER,
    WRITE_ERRORS,
    ledger_api_error,
    with_idempotency_key,
)
from pipeworks.api import AUTH_ERRORS, ApiError, StaffAPIView, error_response
from worlds.exceptions import PolicySyncError
from worlds.models import Character, World
from worlds.selectors import get_world_status, list_world_statuses
from worlds.serializers import (
    PolicyReportSerializer,
    WorldListSerializer,
    WorldPolicyImpactSerializer,
)
from worlds.services import create_character, preview_policy_sync

logger = logging.getLogger(__name__)

API_UNKNOWN_WORLD = "unknown world {world_id!r}: no policy files and not in the database"
API_UNKNOWN_WORLD_ROW = "unknown world {world_id!r}"
API_INVALID_POLICY = (
    "the policy files of world {world_id!r} cannot be synced, so their impact cannot be "
    "previewed: {errors}"
)
API_DUPLICATE_NAME = "world {world_id!r} already has a character named {name!r}"
API_CREATE_DATABASE_ERROR = (
    "the database failed before the character was committed ({error}); it was rolled back: "
    "nothing was written and a retry is safe"
)
API_CREATED_NOT_SHOWN = (
    "the character was created, but its state could not be included in this answer; read "
    "it with GET /admin/characters/{character_id}/axis-state"
)


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


WORLD_ID_PARAMETER = OpenApiParameter(
    "world_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The world's id."
)


def find_world(request: Request, world_id: str) -> World | None:
    """Return the world of a URL's id, or None when there is none.

    The world limits are checked first: a world the user may not use is a 403, whether
    it exists or not.
    """
    require_world(request, world_id=world_id)
    return World.objects.named(world_id)


def unknown_world(world_id: str) -> ApiError:
    """Return the 404 of a world id that names no world."""
    return ApiError(
        API_UNKNOWN_WORLD_ROW.format(world_id=world_id),
        status_code=status.HTTP_404_NOT_FOUND,
        code="unknown_world",
    )


def creation_error(exc: ValidationError, *, world: World, name) -> ApiError:
    """Return the API error for a creation ``create_character`` refused.

    The request serializer has checked the body already; what reaches here depends on the
    data: a name the world has (409 duplicate_name), or a world without active axes.
    """
    errors = getattr(exc, "error_dict", None) or {NON_FIELD_ERRORS: exc.error_list}
    key, (error, *_) = next(iter(errors.items()))
    code = error.code or "invalid"
    if key == NON_FIELD_ERRORS and code == "unique_together":  # the (world, name) constraint
        return ApiError(
            API_DUPLICATE_NAME.format(world_id=world.world_id, name=name),
            status_code=status.HTTP_409_CONFLICT,
            code="duplicate_name",
            field="name",
        )
    message = next(iter(error))
    status_code = (
        status.HTTP_404_NOT_FOUND if code == "unknown_world" else status.HTTP_400_BAD_REQUEST
    )
    field = None if key in (NON_FIELD_ERRORS, "world") else key
    return ApiError(message, status_code=status_code, code=code, field=field)


def character_state_response(character: Character, status_code: int) -> Response:
    """Answer with the character's state (``GET .../axis-state``'s shape, with its name).

    The creation is committed by now, so no failure may turn this answer into an error
    (a client told "failed" would create again): if reading the state fails, the answer
    is still a success, with the character's id.
    """
    try:
        axes = get_character_state(character)
        body = CharacterStateSerializer(serialize_character_state(character, axes)).data
    except Exception:  # noqa: BLE001 (any failure: the character exists either way)
        logger.exception("character %s was created; answering with its id only", character.pk)
        body = {
            "character_id": character.pk,
            "world_id": character.world_id,
            "name": character.name,
            "detail": API_CREATED_NOT_SHOWN.format(character_id=character.pk),
        }
    return Response(body, status=status_code)


class WorldCharactersView(StaffAPIView):
    """The characters of a world: create one (``create_character``), read many at once."""

    # Reading needs the reader's permission; creating, the permission to apply events.
    permission_classes = [CanApplyEvents]

    @extend_schema(
        operation_id="world_characters",
        tags=["characters"],
        summary="Many characters' axis states at once",
        description=(
            "Each character's state as `GET /admin/characters/{character_id}/axis-state` "
            "gives it (scores and labels on every active axis, the snapshots and their "
            "metadata), with its name, in a fixed number of queries whatever the count. "
            f"With `ids` (at most {MAX_CHARACTER_STATES}): those characters in the order "
            "given, each once; ids that name no character of this world (unknown, or of "
            "another world: not told apart) are listed in `missing`, not refused. Without "
            f"`ids`: the world's characters in id order, `limit` (at most "
            f"{MAX_CHARACTER_STATES}) at a time; follow `after=<next_after>`."
        ),
        parameters=[WORLD_ID_PARAMETER, CharacterStatesQuerySerializer],
        responses={
            200: CharacterStatesSerializer,
            400: error_response(
                "Bad `ids` (not comma-separated ids: invalid; more than "
                f"{MAX_CHARACTER_STATES}: too_many_ids), a bad `after` or `limit`, or `ids` "
                "with `after` or `limit` (ids_with_paging); `field` names the parameter."
            ),
            **AUTH_ERRORS,
            404: error_response("Unknown world."),
        },
    )
    def get(self, request: Request, world_id: str) -> Response:
        world = find_world(request, world_id)
        query = CharacterStatesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        if world is None:
            raise unknown_world(world_id)
        data = query.validated_data
        if "ids" in data:
            page = list_character_states(world, ids=data["ids"])
        else:
            page = list_character_states(world, after=data.get("after", 0), limit=data["limit"])
        body = {
            "world_id": world.world_id,
            "characters": [
                serialize_character_state(character, axes) for character, axes in page.states
            ],
            "missing": page.missing,
            "next_after": page.next_after,
        }
        return Response(CharacterStatesSerializer(body).data)

    @extend_schema(
        operation_id="world_create_character",
        tags=["characters"],
        summary="Create a character",
        description=(
            "Creates the character through `create_character`: a score on every active "
            "axis (the given ones, else the axis default, else 0.5), recorded as its "
            "`character_created` genesis event. Creations in one world take turns, so "
            "two requests with one idempotency key never both create."
        ),
        parameters=[WORLD_ID_PARAMETER, IDEMPOTENCY_KEY_HEADER],
        request=CreateCharacterSerializer,
        responses={
            201: OpenApiResponse(
                CharacterStateSerializer,
                description="The character was created; its state. Once it is committed "
                "the answer is a success whatever happens next: if its state cannot be "
                "read, the body has only `character_id`, `world_id`, `name` and `detail`.",
            ),
            200: OpenApiResponse(
                CharacterStateSerializer,
                description="A retry of an earlier request (same idempotency_key, name and "
                "scores): the original character's current state; nothing was written.",
            ),
            400: error_response(
                "Malformed body (not JSON, not an object, a missing, unknown or mistyped "
                "field, larger than the upload limit), a score that is not a number in "
                "[0, 1] or of an unknown or retired axis (field `scores.<axis>`), a world "
                "without active axes (no_axes)."
            ),
            **AUTH_ERRORS,
            404: error_response("Unknown world."),
            409: error_response(
                "The world already has a character of this name (duplicate_name, field "
                "name), or the idempotency_key was used for another request "
                "(idempotency_conflict)."
            ),
            429: WRITE_ERRORS[429],
            503: WRITE_ERRORS[503],
        },
    )
    def post(self, request: Request, world_id: str) -> Response:
        world = find_world(request, world_id)
        # The body first, as for events: its axes are checked when the world exists.
        body = CreateCharacterSerializer(data=request.data, context={"world": world})
        body.is_valid(raise_exception=True)
        if world is None:
            raise unknown_world(world_id)
        data = body.validated_data
        key = with_idempotency_key(request, {"idempotency_key": data.get("idempotency_key")})
        try:
            character = create_character(
                world_id=world.world_id,
                name=data["name"],
                scores=data.get("scores"),
                idempotency_key=key["idempotency_key"],
            )
        except ValidationError as exc:
            raise creation_error(exc, world=world, name=data["name"]) from exc
        except LedgerError as exc:
            raise ledger_api_error(exc, field=exc.field) from exc
        except (OperationalError, InterfaceError) as exc:  # transient: rolled back
            raise ApiError(
                API_CREATE_DATABASE_ERROR.format(error=exc.__class__.__name__),
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                code="database_error",
            ) from exc
        created = not character.replayed
        return character_state_response(
            character, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def invalid_policy(world_id: str, errors: list[str]) -> ApiError:
    """Return the 409 of a world whose files a sync would refuse, naming every error."""
    return ApiError(
        API_INVALID_POLICY.format(world_id=world_id, errors="; ".join(errors)),
        status_code=status.HTTP_409_CONFLICT,
        code="invalid_policy",
    )


class WorldPolicyImpactView(StaffAPIView):
    """What syncing a world's policy files would do to its characters; nothing is written."""

    permission_classes = [CanReadLedger]

    @extend_schema(
        operation_id="world_policy_impact",
        tags=["worlds"],
        summary="What a sync of a world's policy files would do, before it is made",
        description=(
            "The steps a sync would carry out (as `sync_policies --dry-run` lists them) and "
            "their impact on the characters: per axis active now and in the files, the "
            "matrix old label -> new label with counts and the first 20 characters by id "
            "whose label would change; axes added (characters backfilled, at which score) "
            "and retired (scores that stop moving); drift rules added, changed or removed "
            "(characters moved, change per day before and after). `impact` is null when "
            "the files are synced. Reads only, in the same number of queries whatever the "
            "number of characters."
        ),
        parameters=[WORLD_ID_PARAMETER],
        responses={
            200: WorldPolicyImpactSerializer,
            **AUTH_ERRORS,
            404: error_response("Neither policy files nor the database know this world."),
            409: error_response(
                "The world's policy files have errors, or are missing (invalid_policy): "
                "`detail` names every file, key path, line and problem."
            ),
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
        if not world.report.is_valid:
            raise invalid_policy(world_id, [str(issue) for issue in world.report.errors])
        try:
            preview = preview_policy_sync(world_ids=[world_id])
        except PolicySyncError as exc:  # the files changed since they were read above
            errors = [str(issue) for report in exc.reports for issue in report.errors]
            raise invalid_policy(world_id, errors or [exc.message]) from exc
        [plan] = preview.plans
        impact = preview.impacts[world_id]
        body = {
            "world_id": world_id,
            "changed": plan.changed,
            "file_hash": plan.report.policy_hash,
            "policy_hash": world.registry_hash,
            "changes": plan.describe(),
            "impact": impact.as_dict() if impact is not None else None,
        }
        return Response(WorldPolicyImpactSerializer(body).data)

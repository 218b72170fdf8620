"""Postprocessing of the OpenAPI schema (``SPECTACULAR_SETTINGS``). Imports no app."""

from pipeworks.serializers import MAX_ID


def state_path_id_bounds(result: dict, generator, request, public) -> dict:
    """Bound every integer path parameter to the ids a BIGINT primary key holds.

    The views parse such an id with ``pipeworks.serializers.parse_id``: any other number
    identifies nothing (a 404), which the schema should not allow.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and schema.get("type") == "integer":
                    schema.setdefault("minimum", 1)
                    schema.setdefault("maximum", MAX_ID)
    return result

"""Helpers of the event endpoint tests: posting JSON, reading scores, DRF's messages."""

import json

from axes.models import CharacterAxisScore


def scores_of(character) -> dict[str, float]:
    return dict(
        CharacterAxisScore.objects.filter(character=character).values_list(
            "axis__name", "axis_score"
        )
    )


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


# DRF's messages for a field it refused.
REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
NOT_BLANK = "This field may not be blank."
NOT_A_STRING = "Not a valid string."
NOT_A_NUMBER = "A finite number is required."  # StrictFloatField's
NOT_AN_INTEGER = "A valid integer is required."

"""A character's current scores, read from the score table."""

from axes.models import CharacterAxisScore


def scores_of(character) -> dict[str, float]:
    return dict(
        CharacterAxisScore.objects.filter(character=character).values_list(
            "axis__name", "axis_score"
        )
    )

"""The axis registry (a mirror of the policy files) and the current score per axis."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from worlds.models import Character, World
from worlds.policies import Drift


class Axis(models.Model):
    """An Axis is one dimension of character state in a world (wealth, health, ...).

    Rows mirror ``axes.yaml``; the files are the source of truth. An axis that leaves the
    policy is retired, never deleted: the ledger keeps referring to it, and a retired axis
    refuses new deltas.
    """

    world = models.ForeignKey(World, on_delete=models.PROTECT, related_name="axes")
    name = models.CharField(max_length=64, help_text="Key of the axis in axes.yaml.")
    description = models.TextField(blank=True)
    ordering_json = models.JSONField(
        help_text='The ordering definition: {"type": "ordinal"|"numeric", "values": [...]}.'
    )
    default_score = models.FloatField(
        default=0.5, help_text="Initial score for new characters unless one is given."
    )
    is_active = models.BooleanField(
        default=True, help_text="False once the axis left the policy files (retired)."
    )
    drift_rate = models.FloatField(
        null=True, blank=True, help_text="Drift: change per period; null when it has none."
    )
    drift_period = models.PositiveIntegerField(
        null=True, blank=True, help_text="Drift: the period, in seconds."
    )
    drift_toward = models.FloatField(
        null=True, blank=True, help_text="Drift: the score it moves toward and stops at."
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "axis"
        ordering = ["world", "name"]
        verbose_name_plural = "axes"
        constraints = [
            models.UniqueConstraint(fields=["world", "name"], name="axis_unique_name"),
            models.CheckConstraint(
                condition=Q(default_score__gte=0.0, default_score__lte=1.0),
                name="axis_default_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.world_id}:{self.name}"

    @property
    def ordering_type(self) -> str:
        return self.ordering_json.get("type", "")

    @property
    def drift(self) -> Drift | None:
        """The drift rule mirrored from axes.yaml, or None."""
        if self.drift_rate is None:
            return None
        return Drift(rate=self.drift_rate, period=self.drift_period, toward=self.drift_toward)


class AxisValue(models.Model):
    """An AxisValue is one labelled score band of an ordinal axis (``thresholds.yaml``)."""

    world = models.ForeignKey(World, on_delete=models.PROTECT, related_name="+")
    axis = models.ForeignKey(Axis, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=64, help_text="The label, e.g. 'wealthy'.")
    min_score = models.FloatField(help_text="Lowest score with this label.")
    max_score = models.FloatField(help_text="Nominal upper bound from thresholds.yaml.")
    ordinal = models.PositiveSmallIntegerField(help_text="Position in the axis ordering, from 0.")

    class Meta:
        db_table = "axis_value"
        ordering = ["axis", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["axis", "value"], name="axis_value_unique_label"),
            models.UniqueConstraint(fields=["axis", "ordinal"], name="axis_value_unique_ordinal"),
            models.CheckConstraint(
                condition=Q(min_score__gte=0.0, max_score__lte=1.0, min_score__lte=F("max_score")),
                name="axis_value_band_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.value} [{self.min_score}, {self.max_score}]"


class CharacterAxisScore(models.Model):
    """The current score of one character on one axis, in [0, 1].

    It equals the ``new_score`` of the latest ledger delta for that character and axis;
    only the ledger service writes it.
    """

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="scores")
    world = models.ForeignKey(World, on_delete=models.PROTECT, related_name="+")
    axis = models.ForeignKey(Axis, on_delete=models.PROTECT, related_name="scores")
    axis_score = models.FloatField(help_text="Current score, in [0, 1] at a precision of 1e-6.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "character_axis_score"
        ordering = ["character", "axis"]
        constraints = [
            models.UniqueConstraint(fields=["character", "axis"], name="score_unique_axis"),
            models.CheckConstraint(
                condition=Q(axis_score__gte=0.0, axis_score__lte=1.0), name="score_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.character_id}:{self.axis_id}={self.axis_score}"

"""Serializers of the worlds API: policy files and the registry, side by side."""

from rest_framework import serializers

from pipeworks.serializers import UTCDateTimeField


class WorldSummarySerializer(serializers.Serializer):
    world_id = serializers.CharField()
    version = serializers.CharField(
        source="report.version",
        allow_null=True,
        help_text="The `version` of the policy files; null without files.",
    )
    registry_version = serializers.CharField(
        allow_null=True, help_text="The version the registry was synced from; null if never."
    )
    policy_hash = serializers.CharField(
        source="registry_hash",
        allow_null=True,
        help_text="The hash recorded in the database; null if never synced.",
    )
    file_hash = serializers.CharField(
        source="report.policy_hash",
        allow_null=True,
        help_text="The hash of the policy files now; null when they cannot be read.",
    )
    in_sync = serializers.BooleanField(
        help_text="The files are valid and the database holds their hash."
    )
    valid = serializers.BooleanField(
        source="report.is_valid", help_text="The policy files have no errors."
    )
    has_files = serializers.BooleanField(help_text="The world's policies directory exists.")
    synced_at = UTCDateTimeField(allow_null=True)
    axis_count = serializers.IntegerField(help_text="Active axes in the registry.")
    character_count = serializers.IntegerField()
    error_count = serializers.SerializerMethodField()
    warning_count = serializers.SerializerMethodField()

    def get_error_count(self, status) -> int:
        return len(status.report.errors)

    def get_warning_count(self, status) -> int:
        return len(status.report.warnings)


class WorldListSerializer(serializers.Serializer):
    worlds = WorldSummarySerializer(many=True)


class PolicyIssueSerializer(serializers.Serializer):
    file = serializers.CharField()
    key_path = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class OrderingSerializer(serializers.Serializer):
    # Echoed as the files hold them: an invalid file may put anything here.
    type = serializers.JSONField(help_text="ordinal or numeric in a valid file.")
    values = serializers.JSONField(help_text="The ordered labels of an ordinal axis.")


class PolicyReportSerializer(serializers.Serializer):
    """``PolicyReport.as_dict()`` with the registry's view of the world."""

    world_id = serializers.CharField()
    directory = serializers.CharField()
    valid = serializers.BooleanField()
    axes = serializers.ListField(child=serializers.CharField(), help_text="Axis names, sorted.")
    ordering = serializers.DictField(
        child=OrderingSerializer(), help_text="Axis name -> its ordering definition."
    )
    thresholds = serializers.DictField(
        help_text="Axis name -> label -> {min, max}: the bands present in thresholds.yaml."
    )
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="Missing files and components."
    )
    errors = PolicyIssueSerializer(many=True)
    warnings = PolicyIssueSerializer(many=True)
    policy_hash = serializers.CharField(
        allow_null=True, help_text="The hash of the policy files now."
    )
    version = serializers.CharField(allow_null=True)
    thresholds_version = serializers.CharField(allow_null=True)
    registry_hash = serializers.CharField(
        allow_null=True, help_text="The hash recorded in the database; null if never synced."
    )
    in_sync = serializers.BooleanField()


# The impact of a policy sync, before it runs (``worlds.services.impact``) -----------------


class LabelMoveSerializer(serializers.Serializer):
    character_id = serializers.IntegerField()
    name = serializers.CharField()
    score = serializers.FloatField()
    old_label = serializers.CharField()
    new_label = serializers.CharField()


class LabelCellSerializer(serializers.Serializer):
    old = serializers.CharField(help_text="The label now.")
    new = serializers.CharField(help_text="The label after the sync.")
    count = serializers.IntegerField(help_text="Characters with this pair of labels.")


class AxisLabelImpactSerializer(serializers.Serializer):
    axis = serializers.CharField()
    old_labels = serializers.ListField(
        child=serializers.CharField(), help_text="The labels now, in ordinal order."
    )
    new_labels = serializers.ListField(
        child=serializers.CharField(), help_text="The labels after the sync, in ordinal order."
    )
    matrix = LabelCellSerializer(
        many=True,
        allow_null=True,
        help_text="The non-zero cells old label -> new label, in ordinal order; null when "
        "the axis is numeric before or after (see `note`).",
    )
    scores = serializers.IntegerField(help_text="Scores on the axis (the matrix's total).")
    changing = serializers.IntegerField(help_text="Characters whose label would change.")
    characters = LabelMoveSerializer(
        many=True, help_text="The first 20 of them by id, with their score and both labels."
    )
    note = serializers.CharField(
        allow_null=True, help_text="Why there is no matrix (a numeric axis), else null."
    )


class AxisAddedSerializer(serializers.Serializer):
    axis = serializers.CharField()
    reactivated = serializers.BooleanField(help_text="The axis was retired and returns.")
    backfilled = serializers.IntegerField(help_text="Characters given a score on it.")
    score = serializers.FloatField(help_text="The score they are given: the axis default.")
    kept = serializers.IntegerField(
        help_text="Scores a reactivated axis kept from before; they move again."
    )


class AxisRetiredSerializer(serializers.Serializer):
    axis = serializers.CharField()
    scores = serializers.IntegerField(help_text="Scores that stay and stop moving.")


class DriftRuleSerializer(serializers.Serializer):
    rate = serializers.FloatField()
    period = serializers.IntegerField(help_text="Seconds.")
    toward = serializers.FloatField(allow_null=True)
    rule = serializers.CharField(help_text="The rule as a person reads it.")


class DriftChangeSerializer(serializers.Serializer):
    axis = serializers.CharField()
    change = serializers.ChoiceField(choices=["added", "changed", "removed"])
    before = DriftRuleSerializer(allow_null=True)
    after = DriftRuleSerializer(allow_null=True)
    per_day_before = serializers.FloatField(
        allow_null=True, help_text="rate * 86400 / period, in score units; null without a rule."
    )
    per_day_after = serializers.FloatField(allow_null=True)
    characters_before = serializers.IntegerField(
        help_text="Characters the rule moves now (not already where it stops them)."
    )
    characters_after = serializers.IntegerField(
        help_text="Characters the rule moves after the sync, backfilled ones included."
    )


class PolicyImpactSerializer(serializers.Serializer):
    world_id = serializers.CharField()
    new_world = serializers.BooleanField(help_text="The world was never synced.")
    characters = serializers.IntegerField()
    labels = AxisLabelImpactSerializer(
        many=True, help_text="Every axis active now and in the files, by name."
    )
    added_axes = AxisAddedSerializer(many=True)
    retired_axes = AxisRetiredSerializer(many=True)
    drift = DriftChangeSerializer(many=True, help_text="Drift rules added, changed or removed.")


class WorldPolicyImpactSerializer(serializers.Serializer):
    world_id = serializers.CharField()
    changed = serializers.BooleanField(help_text="A sync would change the registry.")
    file_hash = serializers.CharField(help_text="The hash of the policy files now.")
    policy_hash = serializers.CharField(
        allow_null=True, help_text="The hash recorded in the database; null if never synced."
    )
    changes = serializers.ListField(
        child=serializers.CharField(), help_text="The steps a sync would carry out."
    )
    impact = PolicyImpactSerializer(
        allow_null=True, help_text="What the sync would do to the characters; null if unchanged."
    )

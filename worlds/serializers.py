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

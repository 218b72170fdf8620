"""The axis registry in the admin: a read-only mirror of the world policy files."""

from django.contrib import admin
from django.db.models import Prefetch
from django.utils.html import format_html_join

from axes.models import Axis, AxisValue
from pipeworks.admin import ReadOnlyAdmin, ReadOnlyInline, policy_files_hint


class AxisValueInline(ReadOnlyInline):
    model = AxisValue
    fields = ("ordinal", "value", "min_score", "max_score")
    readonly_fields = fields
    ordering = ("ordinal",)
    verbose_name = "band"


@admin.register(Axis)
class AxisAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "world",
        "ordering_type",
        "bands",
        "default_score",
        "drift_rule",
        "is_active",
    )
    list_filter = ("world", "is_active")
    search_fields = ("name", "description")
    list_select_related = ("world",)
    ordering = ("world", "name")
    inlines = (AxisValueInline,)
    fields = (
        "world",
        "name",
        "description",
        "ordering_json",
        "default_score",
        "drift_rule",
        "is_active",
        "retired_at",
        "created_at",
        "updated_at",
    )

    def get_source_note(self) -> str:
        return "A read-only mirror of the policy files. " + policy_files_hint()

    def get_queryset(self, request):
        bands = AxisValue.objects.order_by("ordinal")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("values", queryset=bands, to_attr="bands_in_order"))
        )

    @admin.display(description="ordering")
    def ordering_type(self, obj):
        return obj.ordering_type

    @admin.display(description="drift")
    def drift_rule(self, obj):
        return "—" if obj.drift is None else obj.drift.describe()

    @admin.display(description="bands, in order")
    def bands(self, obj):
        if not obj.bands_in_order:
            return "— (numeric: no labels)"
        return format_html_join(
            ", ",
            "{} [{}, {}]",
            ((band.value, band.min_score, band.max_score) for band in obj.bands_in_order),
        )


@admin.register(AxisValue)
class AxisValueAdmin(ReadOnlyAdmin):
    list_display = ("value", "axis", "world", "ordinal", "min_score", "max_score")
    list_filter = ("world", "axis__name")
    search_fields = ("value", "axis__name")
    list_select_related = ("axis", "world")
    ordering = ("world", "axis__name", "ordinal")
    fields = ("world", "axis", "value", "ordinal", "min_score", "max_score")

    def get_source_note(self) -> str:
        return "A read-only mirror of thresholds.yaml. " + policy_files_hint()

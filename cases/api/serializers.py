"""API representations. Output serializers only describe data; input serializers only parse
and type-check it: every rule lives in the services."""

from __future__ import annotations

import copy
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..completion import GROUP_FIELDS, LEVELS, as_of_problem
from ..models import Case, CaseEvent, CheckPoint, Evidence, Inspection, Unit
from ..workflow import Status


class Called(serializers.CharField):
    """A string from a method of the object without arguments (`source`), called
    directly: for a callable source DRF inspects its signature on every row, a fifth of a
    50-case page's time."""

    def get_attribute(self, instance: Any) -> Any:
        return getattr(instance, str(self.source))()


class FieldsBuiltOnce:
    """For a ModelSerializer whose fields depend on its class alone: they are built from the
    model's metadata once per process, and each instance gets its own copies, as DRF copies
    declared fields (building them took more CPU than the rest of a case's answer)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        built = type(self).__dict__.get("_fields_built")
        if built is None:
            built = super().get_fields()  # type: ignore[misc]
            type(self)._fields_built = built  # type: ignore[attr-defined]
        return copy.deepcopy(built)


class UnitRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = Called(source="get_full_name")


class UnitSerializer(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent_id", allow_null=True)  # type: ignore[assignment]
    region = serializers.IntegerField(source="region_id", allow_null=True)  # type: ignore[assignment]
    level_display = Called(source="get_level_display")
    depth = serializers.IntegerField()

    class Meta:
        model = Unit
        fields = [
            "id", "name", "level", "level_display", "parent", "path", "depth", "region",
            "is_supervising_body", "is_responsible_unit",
        ]  # fmt: skip


class InspectionSerializer(serializers.ModelSerializer):
    kind_display = Called(source="get_kind_display")
    issuing_unit = UnitRefSerializer()
    supervising_unit = UnitRefSerializer()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    completion_rate = serializers.FloatField(help_text="done / total, 0–1")
    on_time_rate = serializers.FloatField(
        allow_null=True, help_text="done on time / done, 0–1; null when nothing is done"
    )
    overdue = serializers.IntegerField()

    class Meta:
        model = Inspection
        fields = [
            "id", "code", "name", "kind", "kind_display", "year", "issuing_unit",
            "supervising_unit", "restricted", "total", "done", "completion_rate",
            "on_time_rate", "overdue",
        ]  # fmt: skip


class CheckPointSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    class Meta:
        model = CheckPoint
        fields = ["id", "text", "confirmed", "note"]


class ItemsProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()


class CaseSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    inspection = UnitRefSerializer(help_text="{id, name} of the inspection")
    status_display = Called(source="get_status_display")
    source_display = Called(source="get_source_display")
    method_display = Called(source="get_method_display")
    responsible_unit = UnitRefSerializer()
    supervising_unit = UnitRefSerializer()
    region = UnitRefSerializer(allow_null=True)
    owner = UserRefSerializer(allow_null=True)
    parent = serializers.IntegerField(source="parent_id", allow_null=True)  # type: ignore[assignment]
    light = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()
    checklist = CheckPointSerializer(many=True)
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)

    class Meta:
        model = Case
        fields = [
            "id", "code", "title", "description", "inspection", "source", "source_display",
            "parent", "responsible_unit", "owner", "supervising_unit", "region", "deadline",
            "original_deadline", "extensions", "measures", "progress", "method", "method_display",
            "is_key_problem", "not_for_publication", "amount", "status", "status_display",
            "light", "overdue", "items", "checklist", "created_at", "updated_at", "closed_at",
            "overdue_at_close",
        ]  # fmt: skip

    def to_representation(self, instance: Case) -> dict[str, Any]:
        """The declared fields' output, written out: DRF's generic walk over nested
        serializers costs more than the rest of a 50-case page (tests/cases/test_api.py
        checks that both give the same JSON). Dates, times and the amount still go through
        their declared fields, which know the formats and the time zone."""
        case, fields = instance, self.fields
        amount = case.amount
        return {
            "id": case.id,
            "code": _text(case.code),
            "title": _text(case.title),
            "description": _text(case.description),
            "inspection": _ref(case.inspection),
            "source": _text(case.source),
            "source_display": _text(case.get_source_display()),
            "parent": case.parent_id,
            "responsible_unit": _ref(case.responsible_unit),
            "owner": _person(case.owner),
            "supervising_unit": _ref(case.supervising_unit),
            "region": _ref(case.region),
            "deadline": _day(case.deadline),
            "original_deadline": _day(case.original_deadline),
            "extensions": case.extensions,
            "measures": _text(case.measures),
            "progress": _text(case.progress),
            "method": _text(case.method),
            "method_display": _text(case.get_method_display()),
            "is_key_problem": case.is_key_problem,
            "not_for_publication": case.not_for_publication,
            "amount": None if amount is None else fields["amount"].to_representation(amount),
            "status": _text(case.status),
            "status_display": _text(case.get_status_display()),
            "light": self.get_light(case),
            "overdue": self.get_overdue(case),
            "items": self.get_items(case),
            "checklist": [_point(point) for point in case.checklist.all()],
            "created_at": _moment(fields["created_at"], case.created_at),
            "updated_at": _moment(fields["updated_at"], case.updated_at),
            "closed_at": _moment(fields["closed_at"], case.closed_at),
            "overdue_at_close": case.overdue_at_close,
        }

    @extend_schema_field(serializers.ChoiceField(choices=["red", "yellow", "green"]))
    def get_light(self, case: Case) -> str:
        return case.light()

    def get_overdue(self, case: Case) -> bool:
        return case.is_overdue()

    @extend_schema_field(ItemsProgressSerializer(allow_null=True))
    def get_items(self, case: Case) -> dict[str, int] | None:
        """Items progress of a problem ("3 of 8"); null for a case without items."""
        if not case.items_total:
            return None
        return {"total": case.items_total, "done": case.items_done}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _ref(obj: Any) -> dict[str, Any] | None:
    """UnitRefSerializer's output (units, and the inspection)."""
    return None if obj is None else {"id": obj.id, "name": _text(obj.name)}


def _person(user: Any) -> dict[str, Any] | None:
    """UserRefSerializer's output."""
    if user is None:
        return None
    return {"id": user.id, "username": _text(user.username), "name": _text(user.get_full_name())}


def _point(point: Any) -> dict[str, Any]:
    """CheckPointSerializer's output."""
    return {"id": point.id, "text": _text(point.text), "confirmed": point.confirmed,
            "note": _text(point.note)}  # fmt: skip


def _day(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _moment(field: serializers.Field, value: Any) -> str | None:
    return None if value is None else field.to_representation(value)


class CaseCreateSerializer(serializers.Serializer):
    inspection = serializers.IntegerField()
    title = serializers.CharField(max_length=300)
    responsible_unit = serializers.IntegerField()
    deadline = serializers.DateField()
    code = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    description = serializers.CharField(
        max_length=20000, required=False, allow_blank=True, default=""
    )
    source = serializers.ChoiceField(Case.Source.choices, default=Case.Source.CITY_FEEDBACK)  # type: ignore[assignment]
    parent = serializers.IntegerField(required=False, allow_null=True, default=None)  # type: ignore[assignment]
    owner = serializers.IntegerField(required=False, allow_null=True, default=None)
    measures = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    method = serializers.ChoiceField(Case.Method.choices, required=False, allow_blank=True,  # type: ignore[assignment]
                                     default="")  # fmt: skip
    is_key_problem = serializers.BooleanField(default=False)
    amount = serializers.DecimalField(
        max_digits=16, decimal_places=2, min_value=0, required=False, allow_null=True,
        default=None,
    )  # fmt: skip
    checklist = serializers.ListField(
        child=serializers.CharField(max_length=300), max_length=50, required=False, default=list
    )


class CaseUpdateSerializer(serializers.Serializer):
    """PATCH: each group of fields goes to its own service (and history entry)."""

    measures = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    progress = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    title = serializers.CharField(max_length=300, required=False)
    description = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    source = serializers.ChoiceField(Case.Source.choices, required=False)  # type: ignore[assignment]
    method = serializers.ChoiceField(Case.Method.choices, required=False, allow_blank=True)  # type: ignore[assignment]
    is_key_problem = serializers.BooleanField(required=False)
    not_for_publication = serializers.BooleanField(
        required=False, help_text="Left out of public notices (通报)."
    )
    amount = serializers.DecimalField(
        max_digits=16, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    deadline = serializers.DateField(required=False)
    responsible_unit = serializers.IntegerField(required=False)
    owner = serializers.IntegerField(required=False, allow_null=True)
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True,
        help_text="Required with `deadline` (extension); recorded with a reassignment.",
    )  # fmt: skip
    updated_at = serializers.DateTimeField(
        required=False,
        help_text="Optional optimistic concurrency: the case's `updated_at` as last read. If the "
        "case has changed since, nothing is written and the answer is 409 with code `stale`: "
        "read it again and re-apply the edit. Without it, edits apply in arrival order.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not set(attrs) - {"updated_at"}:
            raise serializers.ValidationError("请至少提供一个要修改的字段。")
        return attrs


class TransitionSerializer(serializers.Serializer):
    to = serializers.CharField(max_length=32, help_text=f"one of {', '.join(Status.values)}")
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    confirm = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=200,
        help_text="ids of the checklist points confirmed (closing needs them all)",
    )  # fmt: skip
    notes = serializers.DictField(
        child=serializers.CharField(max_length=2000, allow_blank=True), required=False,
        default=dict, help_text='the verifier\'s note per checklist point, {"<point id>": "note"} '
        "(closing needs one on every point where the inspection requires evidence)",
    )  # fmt: skip

    def validate_notes(self, value: dict[str, str]) -> dict[int, str]:
        if len(value) > 200:
            raise serializers.ValidationError(_("验收说明最多 200 条。"))
        try:
            return {int(key): note for key, note in value.items()}
        except ValueError:
            raise serializers.ValidationError(_("验收说明须以验收要点编号为键。")) from None


class ActorSerializer(serializers.Serializer):
    """Who did something, or null when it was the system or someone the caller may not know
    by name (outside the caller's scope: see `<field>_display`). Rows are labelled first by
    cases.selectors.label_people, the rule the case page shares."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    name = Called(source="get_full_name")

    def get_attribute(self, instance: Any) -> Any:
        if not getattr(instance, f"{self.source}_named", False):
            return None
        return super().get_attribute(instance)


def person_display(field: str) -> serializers.CharField:
    return serializers.CharField(
        source=f"{field}_label",
        read_only=True,
        help_text="who, as the caller may see them: the name within the caller's scope, "
        "otherwise '<unit> · <role>'; '系统' for the system",
    )


class EvidenceSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()
    uploaded_by = ActorSerializer(allow_null=True)
    uploaded_by_display = person_display("uploaded_by")

    class Meta:
        model = Evidence
        fields = [
            "id", "original_name", "content_type", "size", "sha256", "event", "uploaded_by",
            "uploaded_by_display", "created_at", "download_url",
        ]  # fmt: skip

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, evidence: Evidence) -> str:
        path = reverse("api:case-evidence-download", args=[evidence.case_id, evidence.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class EventSerializer(serializers.ModelSerializer):
    kind_display = Called(source="get_kind_display")
    actor = ActorSerializer(allow_null=True)
    actor_display = person_display("actor")
    actor_unit = UnitRefSerializer(allow_null=True)
    time = serializers.DateTimeField(source="created_at")
    evidence = EvidenceSerializer(many=True)

    class Meta:
        model = CaseEvent
        fields = [
            "id", "kind", "kind_display", "from_status", "to_status", "deadline", "changes",
            "note", "actor", "actor_display", "actor_unit", "time", "evidence",
        ]  # fmt: skip


class EvidenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CompletionQuerySerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=list(GROUP_FIELDS))
    inspection = serializers.IntegerField(required=False, min_value=1)
    region = serializers.IntegerField(required=False, min_value=1)  # type: ignore[assignment]
    level = serializers.ChoiceField(choices=list(LEVELS), default="problem")
    as_of = serializers.DateField(
        required=False,
        help_text="a kept day: from TALLY_SNAPSHOT_DAYS (default 400) days ago to today",
    )

    def validate_as_of(self, value: Any) -> Any:
        problem = as_of_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class CompletionRowSerializer(serializers.Serializer):
    key = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    rate = serializers.FloatField()
    on_time_rate = serializers.FloatField(allow_null=True)
    overdue = serializers.IntegerField(help_text="red light: not done, past the deadline")
    yellow = serializers.IntegerField(help_text="yellow light: due soon")
    rechecked = serializers.IntegerField(help_text="look-back re-checks decided (回头看复核)")
    recheck_failed = serializers.IntegerField(
        help_text="re-checks found a false rectification (虚假整改): the close reopened"
    )
    recheck_failure_rate = serializers.FloatField(
        allow_null=True, help_text="recheck_failed / rechecked; null without a decided re-check"
    )
    accountability = serializers.IntegerField(
        allow_null=True,
        help_text="accountability records (问责) on the group's cases; null for callers who may "
        "not read them (anyone but a commission's supervisors and the commission's tokens)",
    )


class CompletionFiguresSerializer(serializers.Serializer):
    rows = CompletionRowSerializer(many=True)
    total = CompletionRowSerializer()


class CompletionSerializer(serializers.Serializer):
    group_by = serializers.CharField()
    level = serializers.CharField()
    as_of = serializers.DateField(allow_null=True)
    rows = CompletionRowSerializer(many=True, help_text="rectification ledgers only")
    total = CompletionRowSerializer(help_text="rectification ledgers only")
    restricted = CompletionFiguresSerializer(
        allow_null=True,
        help_text="the restricted ledgers (问题线索台账) apart; null for callers who may not "
        "read any (API readers always)",
    )


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})
    # One token per name: asking again under the same name replaces (revokes) the old one.
    name = serializers.CharField(max_length=50, required=False, default="api")


class TokenSerializer(serializers.Serializer):
    """The key is shown here once; the server keeps only its hash."""

    token = serializers.CharField()
    name = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ErrorSerializer(serializers.Serializer):
    """The one shape of every error answer."""

    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]

"""The look-back in the API (registered in cases/api/urls.py: the API's prefix, schema, token
auth, throttling and error shape):

- `GET|POST /api/v1/lookbacks/`: the look-backs of the caller's jurisdiction; start one;
- `GET /api/v1/rechecks/`: their re-check tasks; `POST /api/v1/rechecks/{id}/decision/`;
- `GET|POST /api/v1/accountability/`: accountability records (问责).

A commission's supervisors only (and superusers): anyone else reads empty lists and is refused
(403) every write; accountability records are also read by the commission's own API readers.
Views parse, call `lookback.services` / `lookback.selectors`, and shape.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api.serializers import Called, ErrorSerializer, UnitRefSerializer, UserRefSerializer
from cases.errors import Forbidden

from . import sampling, selectors, services
from .models import AccountabilityRecord, LookBack, RecheckTask

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 403, 404, 409)}
MAX_ID = 2**63 - 1


def _id(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def _require_overseer(request: Request) -> None:
    """Refuse a write to anyone but a commission's supervisor before reading its input."""
    if not selectors.oversees_lookbacks(request.user):
        raise Forbidden(_("只有纪委监委的监督人员可以开展回头看、认定复核结论和登记问责。"))


def _parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class LookBackSerializer(serializers.ModelSerializer):
    unit = UnitRefSerializer()
    sample_size = serializers.IntegerField()
    drawn = serializers.ListField(
        source="drawn_ids", child=serializers.IntegerField(), help_text="the drawn case ids"
    )
    filters = serializers.DictField(
        help_text="the population query: inspection, unit, region, closed_before"
    )

    class Meta:
        model = LookBack
        fields = [
            "id",
            "name",
            "unit",
            "filters",
            "population_size",
            "seed",
            "percentage",
            "sample_size",
            "drawn",
            "deadline",
            "created_at",
        ]


class LookBackCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    checker = _id(help_text="a commission supervisor's user id")
    deadline = serializers.DateField(help_text="复核时限")
    inspection = _id(required=False)
    unit = _id(required=False, help_text="the unit or any under it")
    region = _id(required=False)
    closed_before = serializers.DateField(required=False)
    size = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    percentage = serializers.IntegerField(required=False, min_value=1, max_value=100)
    seed = serializers.IntegerField(
        required=False, min_value=0, max_value=2**63 - 1, help_text="none: a fresh one"
    )


class RecheckSerializer(serializers.ModelSerializer):
    lookback = serializers.IntegerField(source="lookback_id")
    case = serializers.IntegerField(source="case_id")
    checker = UserRefSerializer()
    responsible_unit = UnitRefSerializer(help_text="the unit whose close is re-checked")
    outcome_display = Called(source="get_outcome_display")

    class Meta:
        model = RecheckTask
        fields = [
            "id",
            "lookback",
            "case",
            "checker",
            "deadline",
            "closed_at",
            "responsible_unit",
            "outcome",
            "outcome_display",
            "finding",
            "decided_at",
        ]


class RecheckQuerySerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(RecheckTask.Outcome.choices, required=False)
    lookback = _id(required=False)
    mine = serializers.BooleanField(required=False, help_text="only the caller's own tasks")


class RecheckDecisionSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        [RecheckTask.Outcome.CONFIRMED, RecheckTask.Outcome.FALSE],
        help_text="confirmed, or false (虚假整改/纸面整改: the case reopens)",
    )
    finding = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="复核发现: required for `false`, written into the case's history",
    )


class AccountabilitySerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="case_id")
    recheck = serializers.IntegerField(source="recheck_id", allow_null=True)
    unit = UnitRefSerializer()
    measure_display = Called(source="get_measure_display")

    class Meta:
        model = AccountabilityRecord
        fields = [
            "id",
            "case",
            "recheck",
            "person_name",
            "person_title",
            "unit",
            "measure",
            "measure_display",
            "decided_on",
            "document_number",
            "note",
            "recorded_at",
        ]


class AccountabilityCreateSerializer(serializers.Serializer):
    case = _id()
    recheck = _id(required=False)
    person_name = serializers.CharField(max_length=100)
    person_title = serializers.CharField(max_length=100, required=False, default="")
    unit = _id()
    measure = serializers.ChoiceField(AccountabilityRecord.Measure.choices)
    decided_on = serializers.DateField()
    document_number = serializers.CharField(max_length=100)
    note = serializers.CharField(max_length=2000, required=False, default="")


class AccountabilityQuerySerializer(serializers.Serializer):
    case = _id(required=False)


class LookBackListView(generics.ListAPIView):
    """The look-backs started within the caller's jurisdiction, newest first (empty for anyone
    but a commission's supervisors)."""

    serializer_class = LookBackSerializer
    queryset = LookBack.objects.none()  # for the schema; get_queryset scopes

    def get_queryset(self) -> Any:
        return (
            selectors.visible_lookbacks(self.request.user)
            .defer("population_ids")  # only the detail page re-draws
            .order_by("-created_at", "-id")
        )

    @extend_schema(request=LookBackCreateSerializer, responses={201: LookBackSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        """Start a look-back: `size` or `percentage` of the closed problems the caller sees
        within the filters, drawn with `seed`, one re-check task each for `checker`. 400: bad
        input (a checker or filter out of scope, nothing to draw); 403: not a commission's
        supervisor; 409: a drawn case changed meanwhile."""
        _require_overseer(request)
        data = _parse(LookBackCreateSerializer, request.data)
        filters = sampling.Filters(
            inspection=data.get("inspection"),
            unit=data.get("unit"),
            region=data.get("region"),
            closed_before=data.get("closed_before"),
        )
        lookback = services.lookback_start(
            request=request,
            actor=request.user,
            name=data["name"],
            checker_id=data["checker"],
            deadline=data["deadline"],
            filters=filters,
            size=data.get("size"),
            percentage=data.get("percentage"),
            seed=data.get("seed"),
        )
        return Response(LookBackSerializer(lookback).data, status=201)


@extend_schema(parameters=[RecheckQuerySerializer])
class RecheckListView(generics.ListAPIView):
    """Re-check tasks the caller may follow, earliest deadline first."""

    serializer_class = RecheckSerializer
    queryset = RecheckTask.objects.none()

    def get_queryset(self) -> Any:
        params = _parse(RecheckQuerySerializer, self.request.query_params)
        tasks = selectors.visible_tasks(self.request.user)
        if "outcome" in params:
            tasks = tasks.filter(outcome=params["outcome"])
        if "lookback" in params:
            tasks = tasks.filter(lookback_id=params["lookback"])
        if params.get("mine"):
            tasks = tasks.filter(checker_id=self.request.user.pk)
        return tasks.order_by("deadline", "id")


class RecheckDecisionView(APIView):
    @extend_schema(
        request=RecheckDecisionSerializer,
        responses={200: RecheckSerializer, **ERRORS},
        operation_id="rechecks_decision",
    )
    def post(self, request: Request, task_id: int) -> Response:
        """Record a re-check's outcome; `false` reopens the case with the finding in its
        history. 400: `false` without a finding; 403: not a commission's supervisor; 404: the
        caller may not see the task; 409: already decided, or the case is no longer closed."""
        _require_overseer(request)
        task = selectors.task_get(request.user, task_id)  # 404 before reading the input
        data = _parse(RecheckDecisionSerializer, request.data)
        task = services.recheck_decide(
            request=request,
            actor=request.user,
            task_id=task.pk,
            outcome=data["outcome"],
            finding=data["finding"],
        )
        return Response(RecheckSerializer(selectors.task_get(request.user, task.pk)).data)


@extend_schema(parameters=[AccountabilityQuerySerializer])
class AccountabilityListView(generics.ListAPIView):
    """Accountability records (问责) of the cases the caller sees, latest first: a commission's
    supervisors and its own API readers only (anyone else: an empty list)."""

    serializer_class = AccountabilitySerializer
    queryset = AccountabilityRecord.objects.none()

    def get_queryset(self) -> Any:
        params = _parse(AccountabilityQuerySerializer, self.request.query_params)
        records = selectors.visible_accountability(self.request.user)
        if "case" in params:
            records = records.filter(case_id=params["case"])
        return records.order_by("-decided_on", "-id")

    @extend_schema(
        request=AccountabilityCreateSerializer, responses={201: AccountabilitySerializer, **ERRORS}
    )
    def post(self, request: Request) -> Response:
        """Record an accountability measure on a case (and optionally one of its re-checks).
        400: bad input; 403: not a commission's supervisor; 404: the case is not the caller's
        to see."""
        _require_overseer(request)
        data = _parse(AccountabilityCreateSerializer, request.data)
        record = services.accountability_create(
            request=request,
            actor=request.user,
            case_id=data["case"],
            recheck_id=data.get("recheck"),
            person_name=data["person_name"],
            person_title=data["person_title"],
            unit_id=data["unit"],
            measure=data["measure"],
            decided_on=data["decided_on"],
            document_number=data["document_number"],
            note=data["note"],
        )
        return Response(AccountabilitySerializer(record).data, status=201)

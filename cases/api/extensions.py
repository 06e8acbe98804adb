"""Extension requests (延期申请) and the inbox in the API (registered in cases/api/urls.py):

- `GET|POST /api/v1/cases/{id}/extension-requests/`: a case's requests; the unit asks;
- `GET /api/v1/extension-requests/`: every visible request, filtered, paginated;
- `POST /api/v1/extension-requests/{id}/decision/`: a supervisor approves or refuses;
- `GET /api/v1/inbox/`: the caller's waiting work by kind, with counts.

Views parse, call `cases.extensions` / `cases.inbox`, and shape; the rules live there.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import extensions, selectors
from ..inbox import KINDS, Inbox
from ..models import ExtensionRequest
from . import serializers as s

Status = ExtensionRequest.Status
ERRORS = {code: OpenApiResponse(s.ErrorSerializer) for code in (400, 403, 404, 409)}


class CaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    title = serializers.CharField()
    deadline = serializers.DateField()
    extensions = serializers.IntegerField(help_text="deadline extensions granted so far")
    responsible_unit = s.UnitRefSerializer()


class ExtensionRequestSerializer(serializers.ModelSerializer):
    case = CaseRefSerializer()
    status_display = s.Called(source="get_status_display")
    requested_by = s.ActorSerializer(allow_null=True)
    requested_by_display = s.person_display("requested_by")
    decided_by = s.ActorSerializer(allow_null=True)
    decided_by_display = s.person_display("decided_by")

    class Meta:
        model = ExtensionRequest
        fields = [
            "id", "case", "current_deadline", "deadline", "reason", "status", "status_display",
            "requested_by", "requested_by_display", "requested_at", "decided_by",
            "decided_by_display", "decided_at", "decision_note",
        ]  # fmt: skip


class ExtensionRequestCreateSerializer(serializers.Serializer):
    deadline = serializers.DateField(help_text="申请延至: later than the case's deadline")
    reason = serializers.CharField(max_length=2000, help_text="申请理由")


class DecisionSerializer(serializers.Serializer):
    approve = serializers.BooleanField(help_text="true: approve (the deadline moves), false: no")
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="",
        help_text="审批意见: required to refuse",
    )  # fmt: skip


class ExtensionRequestQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(Status.choices, required=False)
    case = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    inspection = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    responsible_unit = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1,
        help_text="the case's responsible unit or any unit under it",
    )  # fmt: skip


def _parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _one(request: Request, row: ExtensionRequest, status: int = 200) -> Response:
    """A request as the caller sees it, read again through the caller's scope."""
    fresh = extensions.request_get(request.user, row.pk)
    extensions.label_requests(request.user, [fresh])
    return Response(ExtensionRequestSerializer(fresh).data, status=status)


class ExtensionRequestListView(generics.ListAPIView):
    """Extension requests of the cases the caller may see, newest first, paginated like the
    case list. Ids of things the caller may not see match nothing."""

    serializer_class = ExtensionRequestSerializer
    queryset = ExtensionRequest.objects.none()  # for the schema; get_queryset scopes

    @extend_schema(parameters=[ExtensionRequestQuerySerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        params = _parse(ExtensionRequestQuerySerializer, self.request.query_params)
        user = self.request.user
        rows = extensions.visible_requests(user)
        if "status" in params:
            rows = rows.filter(status=params["status"])
        if "case" in params:
            rows = rows.filter(case_id=params["case"])
        if "inspection" in params:
            rows = rows.filter(case__inspection_id=params["inspection"])
        if "responsible_unit" in params:
            unit = selectors.visible_units(user).filter(pk=params["responsible_unit"]).first()
            if unit is None:
                return rows.none()
            rows = rows.filter(selectors.in_unit_subtree(unit, "case__responsible_unit_id"))
        return rows

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        return extensions.label_requests(self.request.user, page) if page is not None else page


class CaseExtensionRequestsView(APIView):
    @extend_schema(
        responses={200: ExtensionRequestSerializer(many=True), 404: s.ErrorSerializer},
        operation_id="cases_extension_requests_list",
    )
    def get(self, request: Request, case_id: int) -> Response:
        """A case's extension requests, newest first. 404: the caller may not see the case."""
        rows = extensions.case_requests(request.user, case_id)
        return Response(ExtensionRequestSerializer(rows, many=True).data)

    @extend_schema(
        request=ExtensionRequestCreateSerializer,
        responses={201: ExtensionRequestSerializer, **ERRORS},
        operation_id="cases_extension_requests_create",
    )
    def post(self, request: Request, case_id: int) -> Response:
        """The responsible unit asks for a later deadline (延期申请). 400: no reason, or a date
        not later than the deadline; 403: not the unit's people (or a read-only token); 404:
        the caller may not see the case; 409: the case is done, a request is already pending
        (code `extension_pending`) or the inspection's cap is reached
        (`extension_cap_reached`)."""
        data = _parse(ExtensionRequestCreateSerializer, request.data)
        row = extensions.extension_request_create(
            actor=request.user, case_id=case_id, deadline=data["deadline"], reason=data["reason"]
        )
        return _one(request, row, 201)


class ExtensionDecisionView(APIView):
    @extend_schema(
        request=DecisionSerializer,
        responses={200: ExtensionRequestSerializer, **ERRORS},
        operation_id="extension_requests_decision",
    )
    def post(self, request: Request, request_id: int) -> Response:
        """A supervisor of the case's supervising unit approves (the deadline moves to the one
        asked for, counted as an extension) or refuses (with a note). 400: refusing without a
        note; 403: not a supervisor of the supervising side; 404: the caller may not see the
        request; 409: already decided (`extension_decided`, also the loser of two decisions
        at once), or the cap is reached (`extension_cap_reached`)."""
        data = _parse(DecisionSerializer, request.data)
        row = extensions.extension_request_decide(
            actor=request.user, request_id=request_id, approve=data["approve"], note=data["note"]
        )
        return _one(request, row)


class InboxCaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    deadline = serializers.DateField()
    extensions = serializers.IntegerField()
    light = serializers.SerializerMethodField()
    inspection = s.UnitRefSerializer(help_text="{id, name} of the inspection")
    responsible_unit = s.UnitRefSerializer()

    @extend_schema_field(serializers.ChoiceField(choices=["red", "yellow", "green"]))
    def get_light(self, case: Any) -> str:
        return case.light()


class InboxCountsSerializer(serializers.Serializer):
    to_verify = serializers.IntegerField()
    escalated = serializers.IntegerField()
    extension_requests = serializers.IntegerField()


class InboxSerializer(serializers.Serializer):
    counts = InboxCountsSerializer()
    to_verify = InboxCaseSerializer(many=True, help_text="待我验收, earliest deadline first")
    escalated = InboxCaseSerializer(many=True, help_text="待上级协调, earliest deadline first")
    extension_requests = ExtensionRequestSerializer(many=True, help_text="延期申请, oldest first")


INBOX_PAGE = 20


class InboxView(APIView):
    @extend_schema(responses={200: InboxSerializer})
    def get(self, request: Request) -> Response:
        """The caller's waiting work: `counts` of each kind and the first 20 of each list
        (`to_verify`: cases submitted for verification to the caller's side; `escalated`:
        cases waiting for higher-level coordination there; `extension_requests`: pending
        requests the caller may decide). Whole lists: `/api/v1/cases/?status=submitted`
        and `/api/v1/extension-requests/?status=pending` (those show everything visible,
        the inbox what is addressed to the caller). Empty for anyone but supervisors."""
        inbox = Inbox(request.user)
        body: dict[str, Any] = {"counts": inbox.counts}
        for kind in KINDS:
            rows = list(inbox.rows(kind)[:INBOX_PAGE])
            if kind == "extension_requests":
                body[kind] = ExtensionRequestSerializer(
                    extensions.label_requests(request.user, rows), many=True
                ).data
            else:
                body[kind] = InboxCaseSerializer(rows, many=True).data
        return Response(body)

"""The REST API (v1). Views parse input, call the same selectors and services as the web
pages, and shape output; they hold no rules of their own."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.http import FileResponse
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import record_case_view
from lookback.figures import add_to_rows
from tracker.db_router import read_from_replica

from .. import accounts, selectors, services, tokens
from ..completion import Selection, completion_report, completion_rows
from ..errors import DomainError, InvalidInput
from ..filters import CaseFilter, UnitFilter
from ..models import ApiToken, Case, User
from ..permissions import Action, require
from ..views import case_list_reads, evidence_response
from . import serializers as s
from .throttling import TokenRateThrottle


def _visible(queryset: Any, pk: Any, field: str) -> Any:
    """Resolve an id given in the input among what the user may see, or a field error."""
    if pk is None:
        return None
    found = queryset.filter(pk=pk).first()
    if found is None:
        message = _("%(id)s 不存在，或您无权访问。") % {"id": pk}
        raise InvalidInput(message, fields={field: [message]})
    return found


# --- Auth ------------------------------------------------------------------------------


class TokenView(APIView):
    """Exchange a username and password for a new API token (shown once, valid
    API_TOKEN_TTL_DAYS days; a new token under the same `name` revokes the old one); DELETE
    revokes the token the request is made with."""

    throttle_classes = [TokenRateThrottle]
    throttle_scope = "token"

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_authenticators(self):
        # The login call itself needs no session, hence no CSRF token.
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    @extend_schema(request=s.TokenRequestSerializer, responses={200: s.TokenSerializer},
                   auth=[], operation_id="auth_token_create")  # fmt: skip
    def post(self, request: Request) -> Response:
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None:
            if getattr(request._request, "axes_locked_out", False):
                # 5 failures for this username from this address (django-axes).
                raise accounts.LockedOut(accounts.lockout_message())
            # The same answer for an unknown user and a wrong password.
            raise InvalidInput(_("用户名或密码错误。"))
        issued = tokens.token_issue(
            user=cast(User, user), name=data.validated_data["name"], replace=True
        )
        token = issued.token
        body = {"token": issued.key, "name": token.name, "expires_at": token.expires_at}
        return Response(s.TokenSerializer(body).data)

    @extend_schema(responses={204: None}, operation_id="auth_token_destroy")
    def delete(self, request: Request) -> Response:
        # A browser session holds no token: nothing to revoke (its tokens are revoked on
        # /accounts/tokens/).
        if isinstance(request.auth, ApiToken):
            tokens.token_revoke(user=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Units and inspections -----------------------------------------------------------------


class UnitViewSet(viewsets.ReadOnlyModelViewSet):
    """Units the caller may see, in tree order (`path`)."""

    serializer_class = s.UnitSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = UnitFilter

    def get_queryset(self):
        return selectors.visible_units(self.request.user).order_by("path")


@extend_schema(parameters=[OpenApiParameter("level", str, enum=["problem", "item"])])
class InspectionViewSet(viewsets.ReadOnlyModelViewSet):
    """Inspections the caller may see, each with its completion figures over the caller's
    cases (problem level unless `level=item`)."""

    serializer_class = s.InspectionSerializer

    def get_queryset(self):
        return (
            selectors.visible_inspections(self.request.user)
            .select_related("issuing_unit", "supervising_unit")
            .order_by("-year", "code")
        )

    def _with_figures(self, inspections: list) -> list:
        level = self.request.query_params.get("level", "problem")
        cases = Selection(self.request.user, inspection_ids=tuple(i.pk for i in inspections))
        rows = {row.key: row for row in completion_rows(cases, group_by="inspection", level=level)}
        for inspection in inspections:
            row = rows.get(inspection.pk)
            inspection.total = row.total if row else 0
            inspection.done = row.done if row else 0
            inspection.completion_rate = row.rate if row else 0.0
            inspection.on_time_rate = row.on_time_rate if row else None
            inspection.overdue = row.overdue if row else 0
        return inspections

    @read_from_replica()
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None  # noqa: S101 (pagination is always on)
        return self.get_paginated_response(
            self.get_serializer(self._with_figures(page), many=True).data
        )

    @read_from_replica()
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        inspection = self._with_figures([self.get_object()])[0]
        return Response(self.get_serializer(inspection).data)


# --- Cases ------------------------------------------------------------------------------

ERRORS = {code: OpenApiResponse(s.ErrorSerializer) for code in (400, 403, 404)}


class FollowUpSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, help_text="督办意见")


class CaseFilterBackend(DjangoFilterBackend):
    """CaseFilter, and its search handed to the paginator (`view.search_plan`), which reads
    a searched list's pages through it (cases.search)."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise translate_validation(filterset.errors)
        filtered = filterset.qs
        view.search_plan = filterset.search_plan
        return filtered


class CaseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.CaseSerializer
    filter_backends = [CaseFilterBackend]
    filterset_class = CaseFilter
    search_plan = None  # set by CaseFilterBackend
    # JSON only: form encodings read an absent boolean as False and would clear flags.
    parser_classes = [JSONParser]
    http_method_names = ["get", "post", "patch", "head", "options"]
    # Ids are digits: anything else is answered 404 by the URL resolver, before any view.
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        # A list reads the user's unit ids first; one case is scoped by join (see
        # selectors.visible_cases).
        one = self.action != "list"
        return (
            selectors.case_list(self.request.user, one=one)
            .prefetch_related("checklist")
            .order_by("deadline", "id")
        )

    def filter_queryset(self, queryset):
        # The list's filters are for the list: one case is found by its id alone.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _case(self, pk: int) -> Case:
        return self.get_queryset().get(pk=pk)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The replica, unless searched (`case_list_reads`); the caller was authenticated on
        # the primary before the view.
        with case_list_reads(request.query_params):
            return super().list(request, *args, **kwargs)

    @read_from_replica()
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.get_object()
        # A restricted case: who read it goes in the audit log (on the primary, and anything
        # read after it too).
        record_case_view(request, case)
        return Response(self.get_serializer(case).data)

    @extend_schema(request=s.CaseCreateSerializer, responses={201: s.CaseSerializer, **ERRORS})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The role first: the ids below must not tell a caller who may not create anything
        # which inspections or units exist.
        require(request.user, Action.CREATE)
        data = _parse(s.CaseCreateSerializer, request.data)
        user = request.user
        case = services.case_create(
            actor=user,
            inspection=_visible(selectors.visible_inspections(user), data["inspection"],
                                "inspection"),
            responsible_unit=_visible(selectors.visible_units(user), data["responsible_unit"],
                                      "responsible_unit"),
            parent=_visible(selectors.visible_cases(user), data["parent"], "parent"),
            owner=_visible(selectors.visible_users(user), data["owner"], "owner"),
            title=data["title"],
            deadline=data["deadline"],
            code=data["code"],
            description=data["description"],
            source=data["source"],
            measures=data["measures"],
            method=data["method"],
            is_key_problem=data["is_key_problem"],
            amount=data["amount"],
            checklist=data["checklist"],
        )  # fmt: skip
        return Response(self.get_serializer(self._case(case.pk)).data, status=201)

    @extend_schema(
        request=s.CaseUpdateSerializer,
        responses={200: s.CaseSerializer, **ERRORS, 409: s.ErrorSerializer},
    )
    @transaction.atomic
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Edit a case; each group of fields goes through its own service and history entry,
        all or nothing. With `updated_at` (the case's, as read) the edit is refused with 409
        `stale` if anything changed the case since; without it, edits apply in turn."""
        case = self.get_object()
        data = _parse(s.CaseUpdateSerializer, request.data)
        actor, reason = request.user, data.pop("reason", "")
        if "updated_at" in data:  # locked from here to the end of the edit
            services.case_require_unchanged(
                actor=actor, case_id=case.pk, updated_at=data.pop("updated_at")
            )
        rectification = {f: data.pop(f) for f in ("measures", "progress") if f in data}
        if rectification:
            services.case_update_rectification(actor=actor, case_id=case.pk, **rectification)
        details = {f: data.pop(f) for f in services.EDITABLE_DETAILS if f in data}
        if details:
            services.case_update_details(actor=actor, case_id=case.pk, **details)
        if "deadline" in data:
            services.case_extend_deadline(
                actor=actor, case_id=case.pk, deadline=data.pop("deadline"), reason=reason
            )
        if "responsible_unit" in data or "owner" in data:
            assignment: dict[str, Any] = {}
            if "responsible_unit" in data:
                assignment["responsible_unit"] = _visible(
                    selectors.visible_units(actor), data.pop("responsible_unit"), "responsible_unit"
                )
            if "owner" in data:
                assignment["owner"] = _visible(
                    selectors.visible_users(actor), data.pop("owner"), "owner"
                )
            services.case_assign(actor=actor, case_id=case.pk, note=reason, **assignment)
        return Response(self.get_serializer(self._case(case.pk)).data)

    @extend_schema(
        request=s.TransitionSerializer,
        responses={200: s.CaseSerializer, **ERRORS, 409: s.ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    @transaction.atomic  # the answer shows the case as this move left it, still locked
    def transitions(self, request: Request, pk: str) -> Response:
        """Move the case along the workflow. 400: unknown status or missing note; 409: not
        allowed from the current status (or another request moved it first); 403: the
        caller's role may not make this move, or the commission's rules refuse it
        (`separation_of_duties`: the submitter or the responsible unit verifying;
        `not_own_unit`: a supervisor making a unit's move on another unit's case); 404: the
        caller may not see the case."""
        data = _parse(s.TransitionSerializer, request.data)
        case = services.case_transition(
            actor=request.user,
            case_id=int(pk),
            to=data["to"],
            note=data["note"],
            confirm=data["confirm"],
            notes=data["notes"],
        )
        # The case as the move left it, still locked: read by the service with what the answer
        # shows (cases.selectors.case_get_for_update), so only its checklist is read here.
        prefetch_related_objects([case], "checklist")
        return Response(self.get_serializer(case).data)

    @extend_schema(
        request=FollowUpSerializer,
        responses={201: s.EventSerializer, **ERRORS, 409: s.ErrorSerializer},
    )
    @action(
        detail=True, methods=["post"], url_path="follow-up", pagination_class=None,
        filter_backends=[],
    )  # fmt: skip
    def follow_up(self, request: Request, pk: str) -> Response:
        """Follow up on the case (督办): the note goes into its history and, as a reminder, to
        its owner or the unit's inspectors by every channel. Supervisors only. 400: empty
        note; 403: not a supervisor; 404: the caller may not see the case; 409: it is done."""
        data = _parse(FollowUpSerializer, request.data)
        event = services.case_follow_up(actor=request.user, case_id=int(pk), note=data["note"])
        selectors.label_people(request.user, [event], "actor", unit_field="actor_unit")
        return Response(s.EventSerializer(event, context={"request": request}).data, status=201)

    @extend_schema(responses={200: s.EventSerializer(many=True), 404: s.ErrorSerializer})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, pk: str) -> Response:
        events = selectors.case_history(request.user, int(pk))
        record_case_view(request, selectors.case_get(request.user, int(pk)))
        return Response(s.EventSerializer(events, many=True, context={"request": request}).data)

    @extend_schema(
        methods=["GET"], responses={200: s.EvidenceSerializer(many=True), 404: s.ErrorSerializer}
    )
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": s.EvidenceUploadSerializer},
        responses={
            201: s.EvidenceSerializer,
            **ERRORS,
            409: s.ErrorSerializer,
            413: s.ErrorSerializer,
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        pagination_class=None,
        filter_backends=[],
        parser_classes=[MultiPartParser, FormParser],
    )
    def evidence(self, request: Request, pk: str) -> Response:
        case_id = int(pk)
        if request.method == "POST":
            data = _parse(s.EvidenceUploadSerializer, request.data)
            try:
                item = services.evidence_add(
                    actor=request.user, case_id=case_id, upload=data["file"], note=data["note"]
                )
            except DomainError as error:
                if "evidence" in error.fields:  # the API's field is called `file`
                    error.fields["file"] = error.fields.pop("evidence")
                raise
            selectors.label_people(request.user, [item], "uploaded_by")
            return Response(
                s.EvidenceSerializer(item, context={"request": request}).data, status=201
            )
        items = selectors.case_evidence(request.user, case_id)
        return Response(s.EvidenceSerializer(items, many=True, context={"request": request}).data)


class EvidenceDownloadView(APIView):
    """The file itself, as an attachment, for callers who may see the case."""

    @extend_schema(responses={(200, "*/*"): OpenApiTypes.BINARY, 404: s.ErrorSerializer})
    def get(self, request: Request, case_id: int, evidence_id: int) -> FileResponse:
        return evidence_response(
            request, selectors.evidence_get(request.user, case_id, evidence_id)
        )


# --- Statistics -------------------------------------------------------------------------


class CompletionView(APIView):
    """Completion figures grouped by inspection, unit or region: exactly what the dashboard
    shows (the same module computes both). The rectification ledgers only: the restricted
    ledgers (问题线索台账) are counted apart, under `restricted`, for callers who may read
    them (null for the others, an API reader always), so a big screen fed by a reader token
    shows the same totals as a supervisor's dashboard."""

    @extend_schema(
        parameters=[s.CompletionQuerySerializer],
        responses={200: s.CompletionSerializer, 400: s.ErrorSerializer},
    )
    @read_from_replica()
    def get(self, request: Request) -> Response:
        query = _parse(s.CompletionQuerySerializer, request.query_params)
        options = {"level": query["level"], "as_of": query.get("as_of")}

        def report(restricted: bool) -> dict[str, Any]:
            cases = Selection(
                request.user,
                inspection_ids=(query["inspection"],) if "inspection" in query else None,
                region_id=query.get("region"),
                restricted=restricted,
            )
            rows, total, _counts = completion_report(cases, group_by=query["group_by"], **options)
            add_to_rows(request.user, cases, rows, total, query["group_by"], as_of=options["as_of"])
            return {"rows": [row.as_dict() for row in rows], "total": total.as_dict()}

        apart = report(True) if selectors.reads_restricted_ledgers(request.user) else None
        return Response(
            {
                "group_by": query["group_by"],
                "level": query["level"],
                "as_of": query.get("as_of"),
                **report(False),
                "restricted": apart,
            }
        )


def _parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)

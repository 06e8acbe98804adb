"""Follow-ups (督办) in the API: `GET /api/v1/cases/{id}/follow-ups/` (each follow-up with
who received it in-app and when they read it, and the unit's replies) and
`POST /api/v1/cases/{id}/follow-ups/{event_id}/replies/` (`note`: the unit's reply). The same
selector and service as the case page (cases.follow_ups)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import record_case_view

from .. import follow_ups, selectors
from . import serializers as s
from .views import ERRORS, _parse


class ReplyRequestSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=follow_ups.NOTE_MAX, help_text="回复内容")


class ReaderSerializer(serializers.Serializer):
    recipient = s.ActorSerializer(allow_null=True)
    recipient_display = s.person_display("recipient")
    state = serializers.CharField(
        help_text="read, unread (delivered), pending (not delivered yet), failed or cancelled"
    )
    delivered_at = serializers.DateTimeField(source="sent_at", allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)


class FollowUpThreadSerializer(serializers.Serializer):
    follow_up = s.EventSerializer(source="event")
    read_count = serializers.IntegerField()
    readers = ReaderSerializer(many=True, help_text="the follow-up's in-app recipients")
    replies = s.EventSerializer(many=True)


class CaseFollowUpsView(APIView):
    """A case's follow-ups, oldest first, with their readers and replies. 404: the caller may
    not see the case."""

    @extend_schema(
        responses={200: FollowUpThreadSerializer(many=True), 404: s.ErrorSerializer},
        operation_id="cases_follow_ups_list",
    )
    def get(self, request: Request, case_id: int) -> Response:
        threads = follow_ups.case_follow_ups(request.user, case_id)
        # A restricted case's reads are audited, as its history's are.
        record_case_view(request, selectors.case_get(request.user, case_id))
        data = FollowUpThreadSerializer(threads, many=True, context={"request": request}).data
        return Response(data)


class FollowUpReplyView(APIView):
    """The unit's reply to a follow-up (回复督办): a history entry that names the follow-up,
    told to its author. 400: empty or too long note; 403: the caller does not answer for the
    case's unit (or is a read-only account); 404: the case or the follow-up is not one the
    caller may see."""

    @extend_schema(
        request=ReplyRequestSerializer,
        responses={201: s.EventSerializer, **ERRORS},
        operation_id="cases_follow_ups_replies_create",
    )
    def post(self, request: Request, case_id: int, event_id: int) -> Response:
        data = _parse(ReplyRequestSerializer, request.data)
        event = follow_ups.follow_up_reply(
            actor=request.user, case_id=case_id, follow_up_id=event_id, note=data["note"]
        )
        selectors.label_people(request.user, [event], "actor", unit_field="actor_unit")
        return Response(s.EventSerializer(event, context={"request": request}).data, status=201)

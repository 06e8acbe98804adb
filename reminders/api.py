"""`GET /api/v1/reminders/`: the reminders of the cases the caller may see (registered in
cases/api/urls.py so it shares the API's URL prefix, schema, auth and error shape)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from cases.api.serializers import Called, UnitRefSerializer, UserRefSerializer

from . import selectors
from .models import Channel, DeliveryStatus, Reminder


class ReminderSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="case_id")
    kind_display = Called(source="get_kind_display")
    channel_display = Called(source="get_channel_display")
    status_display = Called(source="get_status_display")
    recipient = UserRefSerializer(
        allow_null=True,
        help_text="the person (email, in-app); null for a group bot, and for a person outside "
        "the caller's scope (an escalation's supervisors above the caller's unit)",
    )
    unit = UnitRefSerializer(allow_null=True, help_text="the unit whose group bot (webhook)")

    class Meta:
        model = Reminder
        fields = [
            "id", "case", "kind", "kind_display", "recipient", "unit", "channel",
            "channel_display", "window", "created_at", "sent_at", "status", "status_display",
        ]  # fmt: skip

    def to_representation(self, instance: Reminder) -> dict:
        data = super().to_representation(instance)
        if not getattr(instance, "recipient_visible", False):
            data["recipient"] = None  # a person outside the caller's scope stays unnamed
        return data


class ReminderQuerySerializer(serializers.Serializer):
    case = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="only this case's reminders"
    )
    kind = serializers.ChoiceField(Reminder.Kind.choices, required=False)
    channel = serializers.ChoiceField(Channel.choices, required=False)
    status = serializers.ChoiceField(DeliveryStatus.choices, required=False)


@extend_schema(parameters=[ReminderQuerySerializer])
class ReminderListView(generics.ListAPIView):
    """Reminders (due soon, overdue, escalation, follow-up) of the cases the caller may see,
    newest first, one row per recipient and channel. With `case`, that case's only: 404 when
    the caller may not see it, exactly as for a missing case."""

    serializer_class = ReminderSerializer
    queryset = Reminder.objects.none()  # for the schema; get_queryset scopes every request

    def get_queryset(self) -> Any:
        query = ReminderQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        user = self.request.user
        if "case" in params:
            reminders = selectors.case_reminders(user, params["case"])
        else:
            reminders = selectors.visible_reminders(user).select_related("recipient", "unit")
        for name in ("kind", "channel", "status"):
            if name in params:
                reminders = reminders.filter(**{name: params[name]})
        return reminders.order_by("-created_at", "-id")

"""Admin: group bots and the holiday calendar are maintained here; reminders, messages and
notifications are read-only records (the sweep and the senders write them), except that a
failed message can be sent again."""

from __future__ import annotations


from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from cases.admin import ReadOnlyAdmin

from . import services
from .models import CalendarDay, Delivery, Notification, Reminder, UnitWebhook


@admin.register(UnitWebhook)
class UnitWebhookAdmin(admin.ModelAdmin):
    list_display = ["unit", "flavour", "enabled", "timeout_seconds", "max_attempts"]
    list_filter = ["flavour", "enabled"]
    search_fields = ["unit__name"]
    autocomplete_fields = ["unit"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name", "source"]
    list_filter = ["kind", "date"]
    search_fields = ["name", "source"]
    date_hierarchy = "date"


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["case", "kind", "window", "recipient", "unit", "channel", "status",
                    "created_at", "sent_at"]  # fmt: skip
    list_filter = ["kind", "channel", "status"]
    search_fields = ["case__code", "case__title", "recipient__username", "unit__name"]
    list_select_related = ["case", "recipient", "unit"]
    date_hierarchy = "created_at"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "channel", "recipient", "unit", "status", "attempts",
                    "next_attempt_at", "sent_at", "last_error"]  # fmt: skip
    list_filter = ["channel", "status"]
    search_fields = ["recipient__username", "unit__name", "last_error"]
    list_select_related = ["recipient", "unit"]
    actions = ["retry"]

    @admin.action(description=_("立即重新发送"), permissions=["view"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = services.delivery_retry(delivery_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request, _("已安排重新发送 %(count)s 条消息。") % {"count": count}, messages.SUCCESS
        )


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["user", "title", "created_at", "read_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "title"]

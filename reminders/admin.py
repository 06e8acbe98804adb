"""Admin: group bots and the site's overrides of the holiday calendar are maintained here;
reminders, messages and notifications are read-only records (the sweep and the senders write
them), except that a failed message can be sent again."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from cases.admin import ReadOnlyAdmin, without_hidden_ledgers

from . import selectors, services, webhooks
from .models import CalendarDay, Delivery, Notification, Reminder, UnitWebhook


class SuperusersOnly(ReadOnlyAdmin):
    """Messages and notifications carry the titles of the cases they are about, in JSON that
    no scope can filter (a restricted ledger's among them): superusers only."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super().has_view_permission(request, obj)


@admin.register(UnitWebhook)
class UnitWebhookAdmin(admin.ModelAdmin):
    """Scoped to the editor's units (reminders.selectors.webhook_units); the URL is checked
    against the egress policy by the model's validation (UnitWebhook.clean)."""

    list_display = ["unit", "flavour", "enabled", "timeout_seconds", "max_attempts"]
    list_filter = ["flavour", "enabled"]
    search_fields = ["unit__name"]
    list_select_related = ["unit"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[UnitWebhook]:
        # Lists, change, delete and actions all start here: a bot of another unit is "not
        # found" to a staff user outside it.
        return selectors.editable_webhooks(request.user)

    def get_autocomplete_fields(self, request: HttpRequest) -> list[str]:
        # The unit autocomplete searches every unit; other staff get a list of their own.
        return ["unit"] if request.user.is_superuser else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "unit":
            kwargs["queryset"] = selectors.webhook_units(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Through reminders.webhooks: every change of a group bot is in the audit log.
    def save_model(self, request: HttpRequest, obj: UnitWebhook, form: Any, change: bool) -> None:
        webhooks.webhook_save(actor=request.user, webhook=obj, request=request)

    def delete_model(self, request: HttpRequest, obj: UnitWebhook) -> None:
        webhooks.webhook_delete(actor=request.user, webhook=obj, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[UnitWebhook]) -> None:
        for webhook in queryset:
            webhooks.webhook_delete(actor=request.user, webhook=webhook, request=request)


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "unit", "kind", "name", "source"]
    list_filter = ["kind", "date"]
    search_fields = ["name", "source", "unit__name"]
    list_select_related = ["unit"]
    autocomplete_fields = ["unit"]
    date_hierarchy = "date"


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["case", "kind", "window", "recipient", "unit", "channel", "status",
                    "created_at", "sent_at"]  # fmt: skip
    list_filter = ["kind", "channel", "status"]
    search_fields = ["case__code", "case__title", "recipient__username", "unit__name"]
    list_select_related = ["case", "recipient", "unit"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reminder]:
        return without_hidden_ledgers(request.user, super().get_queryset(request), "case")


@admin.register(Delivery)
class DeliveryAdmin(SuperusersOnly):
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
class NotificationAdmin(SuperusersOnly):
    list_display = ["user", "title", "created_at", "read_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "title"]

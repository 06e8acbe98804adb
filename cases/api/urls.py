from django.urls import path
from rest_framework.routers import DefaultRouter

from ledgers.api import CaseExportView, ExportJobView, ImportJobView
from lookback import api as lookback_api
from reminders.api import ReminderListView

from . import extensions, follow_ups, views

app_name = "api"

router = DefaultRouter(trailing_slash=True)
# No format-suffix routes ("cases/1.json", "cases/1/history.api"): clients choose the format
# with Accept (or ?format=). The custom actions' suffix routes were server errors.
router.include_format_suffixes = False
router.register("units", views.UnitViewSet, basename="unit")
router.register("inspections", views.InspectionViewSet, basename="inspection")
router.register("cases", views.CaseViewSet, basename="case")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("stats/completion/", views.CompletionView.as_view(), name="stats-completion"),
    path("reminders/", ReminderListView.as_view(), name="reminders"),
    path("jobs/exports/<int:pk>/", ExportJobView.as_view(), name="export-job"),
    path("jobs/imports/<int:pk>/", ImportJobView.as_view(), name="import-job"),
    # Before the router: "cases/export/" would otherwise read as the case with id "export".
    path("cases/export/", CaseExportView.as_view(), name="case-export"),
    path(
        "cases/<int:case_id>/extension-requests/",
        extensions.CaseExtensionRequestsView.as_view(),
        name="case-extension-requests",
    ),
    path(
        "extension-requests/",
        extensions.ExtensionRequestListView.as_view(),
        name="extension-requests",
    ),
    path(
        "extension-requests/<int:request_id>/decision/",
        extensions.ExtensionDecisionView.as_view(),
        name="extension-request-decision",
    ),
    path("inbox/", extensions.InboxView.as_view(), name="inbox"),
    path("lookbacks/", lookback_api.LookBackListView.as_view(), name="lookbacks"),
    path("rechecks/", lookback_api.RecheckListView.as_view(), name="rechecks"),
    path(
        "rechecks/<int:task_id>/decision/",
        lookback_api.RecheckDecisionView.as_view(),
        name="recheck-decision",
    ),
    path("accountability/", lookback_api.AccountabilityListView.as_view(), name="accountability"),
    path(
        "cases/<int:case_id>/evidence/<int:evidence_id>/download/",
        views.EvidenceDownloadView.as_view(),
        name="case-evidence-download",
    ),
    path(
        "cases/<int:case_id>/follow-ups/",
        follow_ups.CaseFollowUpsView.as_view(),
        name="case-follow-ups",
    ),
    path(
        "cases/<int:case_id>/follow-ups/<int:event_id>/replies/",
        follow_ups.FollowUpReplyView.as_view(),
        name="case-follow-up-replies",
    ),
    *router.urls,
]

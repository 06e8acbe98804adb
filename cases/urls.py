from django.urls import path

from . import autocomplete, extension_views, follow_up_views, registry_views, views

app_name = "cases"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("reports/progress/", views.progress_report, name="report"),
    path("cases/", views.case_list, name="list"),
    path("cases/bulk/", views.case_bulk, name="bulk"),
    path("cases/<int:case_id>/", views.case_detail, name="detail"),
    path("cases/<int:case_id>/transition/", views.case_transition, name="transition"),
    path("cases/<int:case_id>/rectification/", views.case_rectification, name="rectification"),
    path("cases/<int:case_id>/evidence/", views.case_evidence, name="evidence"),
    path("cases/<int:case_id>/deadline/", views.case_deadline, name="deadline"),
    path("cases/<int:case_id>/assign/", views.case_assign, name="assign"),
    path("cases/<int:case_id>/assign/form/", views.case_assign_form, name="assign-form"),
    path("cases/<int:case_id>/follow-up/", views.case_follow_up, name="follow-up"),
    path("cases/<int:case_id>/checklist/", registry_views.checklist_add, name="checklist-add"),
    path(
        "cases/<int:case_id>/checklist/<int:point_id>/",
        registry_views.checklist_edit,
        name="checklist-edit",
    ),
    path("inspections/", registry_views.inspection_list, name="inspections"),
    path("inspections/new/", registry_views.inspection_create, name="inspection-create"),
    path(
        "inspections/<int:inspection_id>/edit/",
        registry_views.inspection_edit,
        name="inspection-edit",
    ),
    path(
        "inspections/<int:inspection_id>/problems/new/",
        registry_views.problem_create,
        name="problem-create",
    ),
    path("inspections/<int:inspection_id>/paste/", registry_views.paste, name="paste"),
    path(
        "cases/<int:case_id>/follow-ups/<int:event_id>/reply/",
        follow_up_views.follow_up_reply,
        name="follow-up-reply",
    ),
    path(
        "cases/<int:case_id>/extension-requests/",
        extension_views.extension_request,
        name="extension-request",
    ),
    path(
        "extension-requests/<int:request_id>/decision/",
        extension_views.extension_decision,
        name="extension-decision",
    ),
    path("inbox/", extension_views.inbox, name="inbox"),
    path("top-bar/", extension_views.top_bar, name="top-bar"),
    path("autocomplete/units/", autocomplete.unit_options, name="autocomplete-units"),
    path("autocomplete/users/", autocomplete.user_options, name="autocomplete-users"),
    path("restricted-grants/", views.restricted_grants, name="grants"),
    path("restricted-grants/new/", views.restricted_grant_create, name="grant-create"),
    path(
        "restricted-grants/<int:grant_id>/revoke/",
        views.restricted_grant_revoke,
        name="grant-revoke",
    ),
    path(
        "cases/<int:case_id>/evidence/<int:evidence_id>/",
        views.evidence_download,
        name="evidence-download",
    ),
]

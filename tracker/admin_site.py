"""The Django admin is for superusers only (system administrators). Daily work, unit
administrators' management of their people and group bots included, is in the pages
(cases.people_views); a staff account that is not a superuser is sent to the admin's login
page, as for anybody else without the right."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class SuperuserAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)


class SuperuserAdminConfig(AdminConfig):
    default_site = "tracker.admin_site.SuperuserAdminSite"

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from ..selectors import user_role
from ..workflow import Role


class ReadOnlyForApiReaders(BasePermission):
    """An api_reader account (or its token) reads and never writes."""

    message = _("只读接口账号不能修改数据。")

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or user_role(request.user) != Role.API_READER

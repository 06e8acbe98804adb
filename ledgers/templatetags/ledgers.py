from typing import Any

from django import template

from ledgers.services import may_import as _may_import

register = template.Library()


@register.simple_tag
def may_import(user: Any) -> bool:
    """Whether to offer the import: the same rule the import service enforces."""
    return _may_import(user)

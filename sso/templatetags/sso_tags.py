from django import template

from sso.conf import oidc_enabled as _oidc_enabled

register = template.Library()


@register.simple_tag
def oidc_enabled() -> bool:
    """The login page offers sign-on only where OIDC is configured."""
    return _oidc_enabled()

"""Slow down password guessing at the sign-in endpoint."""

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from tenants.context import current_schema


class SignInRateThrottle(SimpleRateThrottle):
    """Count sign-in attempts per client address and tenant."""

    scope = "sign-in"

    def get_rate(self) -> str:
        # Read on every request, so the rate can be changed by settings alone.
        return str(settings.SIGN_IN_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return f"throttle:sign-in:{current_schema()}:{self.get_ident(request)}"

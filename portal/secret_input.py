"""API keys as admins type them into settings forms and requests.

Settings are shown with their keys masked ("…abcd"). A client that sends
back what it was shown means "keep the key", not "store these characters":
stored, the mask would be sent as a key and fail in the HTTP header.
"""

from typing import Any

from rest_framework import serializers

from portal.encryption import MASK_MARK


def checked_api_key(value: str | None) -> str | None:
    """The key as typed, refused when it could never go into an HTTP header."""
    if not value or value.startswith(MASK_MARK):
        return value
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        raise serializers.ValidationError(
            "An API key is printable ASCII text without spaces; this one holds "
            "other characters (a typographic quote, a space or a line break "
            "pasted with it?)."
        )
    return value


def without_masked_api_key(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields to change, leaving the stored key alone when it came back masked."""
    key = fields.get("api_key")
    if isinstance(key, str) and key.startswith(MASK_MARK):
        return {name: value for name, value in fields.items() if name != "api_key"}
    return fields

from typing import Any

from rest_framework import serializers

from llm.models import PROVIDERS
from portal.outbound import OutboundRefused, check_outbound_url
from portal.secret_input import checked_api_key, without_masked_api_key

ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
MAX_MESSAGES = 200
MAX_OUTPUT_TOKENS = 16384


class ProviderFieldsSerializer(serializers.Serializer):
    # null or "" clears the tenant's key, so the platform's default applies.
    api_key = serializers.CharField(
        max_length=500,
        allow_blank=True,
        allow_null=True,
        required=False,
        write_only=True,
    )
    base_url = serializers.URLField(
        max_length=500, allow_blank=True, allow_null=True, required=False
    )
    light_model = serializers.CharField(
        max_length=120, allow_blank=True, required=False
    )
    heavy_model = serializers.CharField(
        max_length=120, allow_blank=True, required=False
    )

    def validate_api_key(self, value: str | None) -> str | None:
        return checked_api_key(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return without_masked_api_key(attrs)

    def validate_base_url(self, value: str | None) -> str:
        if not value:
            return ""
        try:
            check_outbound_url(value)
        except OutboundRefused as refused:
            raise serializers.ValidationError(str(refused)) from None
        return value


class LLMSettingsSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(
        choices=[*PROVIDERS, ""], required=False, allow_blank=True
    )
    fallbacks = serializers.ListField(
        child=serializers.ChoiceField(choices=PROVIDERS), max_length=4, required=False
    )
    routing = serializers.BooleanField(required=False)
    allowed_providers = serializers.DictField(
        child=serializers.BooleanField(), required=False
    )
    providers = serializers.DictField(child=ProviderFieldsSerializer(), required=False)

    def validate_fallbacks(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate_allowed_providers(self, value: dict[str, bool]) -> dict[str, bool]:
        return _known_providers(value)

    def validate_providers(self, value: dict[str, Any]) -> dict[str, Any]:
        return _known_providers(value)


def _known_providers(value: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(value) - set(PROVIDERS))
    if unknown:
        raise serializers.ValidationError(
            f"Unknown provider {', '.join(unknown)}; use one of {', '.join(PROVIDERS)}."
        )
    return value


class UsageQuerySerializer(serializers.Serializer):
    month = serializers.RegexField(
        r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$",
        required=False,
        error_messages={"invalid": "Give the month as YYYY-MM, e.g. 2026-12."},
    )


class MessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.JSONField()

    def validate_role(self, value: str) -> str:
        if value not in ROLES:
            raise serializers.ValidationError(
                f"Role '{value}' is not supported here; use system, developer, user or assistant."
            )
        return ROLES[value]

    def validate_content(self, value: Any) -> str:
        # Content is a string or a list of parts; only text parts are supported.
        if isinstance(value, list) and all(
            isinstance(part, dict) and part.get("type") == "text" for part in value
        ):
            value = "".join(str(part.get("text", "")) for part in value)
        if not isinstance(value, str):
            raise serializers.ValidationError("Only text content is supported.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise serializers.ValidationError(
                "The text holds characters that are not valid Unicode "
                "(a lone surrogate); send UTF-8 text."
            ) from None
        return value


class ChatCompletionSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=120)
    messages = MessageSerializer(many=True, allow_empty=False)
    stream = serializers.BooleanField(default=False)
    stream_options = serializers.DictField(required=False, allow_null=True)
    max_tokens = serializers.IntegerField(
        min_value=1, max_value=MAX_OUTPUT_TOKENS, required=False, allow_null=True
    )
    max_completion_tokens = serializers.IntegerField(
        min_value=1, max_value=MAX_OUTPUT_TOKENS, required=False, allow_null=True
    )
    temperature = serializers.FloatField(
        min_value=0, max_value=2, required=False, allow_null=True
    )
    metadata = serializers.DictField(required=False, allow_null=True)

    def validate_messages(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        if len(value) > MAX_MESSAGES:
            raise serializers.ValidationError(
                f"At most {MAX_MESSAGES} messages per request."
            )
        return value

from typing import Any

from rest_framework import serializers

from dify.models import AppMode
from portal.outbound import OutboundRefused, check_outbound_url
from portal.secret_input import checked_api_key, without_masked_api_key

MAX_QUERY_CHARS = 20_000


class DifyConnectionSerializer(serializers.Serializer):
    base_url = serializers.URLField(max_length=500)
    # Write-only: left out, the stored key stays; it is never read back.
    api_key = serializers.CharField(
        max_length=500, required=False, write_only=True, trim_whitespace=True
    )
    app_mode = serializers.ChoiceField(choices=AppMode.choices, default=AppMode.CHAT)
    connect_timeout = serializers.FloatField(min_value=0.1, max_value=30, default=5.0)
    read_timeout = serializers.FloatField(min_value=1, max_value=600, default=60.0)

    def validate_api_key(self, value: str | None) -> str | None:
        return checked_api_key(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return without_masked_api_key(attrs)

    def validate_base_url(self, value: str) -> str:
        try:
            check_outbound_url(value)
        except OutboundRefused as refused:
            raise serializers.ValidationError(str(refused)) from None
        return value.rstrip("/")


class ChatMessageSerializer(serializers.Serializer):
    """What a caller may send to chat-messages; `user` is never taken from it."""

    query = serializers.CharField(max_length=MAX_QUERY_CHARS, trim_whitespace=False)
    inputs = serializers.DictField(required=False, default=dict)
    response_mode = serializers.ChoiceField(
        choices=["blocking", "streaming"], default="blocking"
    )
    conversation_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )
    files = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=20
    )
    auto_generate_name = serializers.BooleanField(required=False)


class RenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    auto_generate = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("name") and not attrs["auto_generate"]:
            raise serializers.ValidationError(
                {"name": "Give a name or set auto_generate to true."}
            )
        return attrs


class FeedbackSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(
        choices=["like", "dislike"], allow_null=True, required=True
    )
    content = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class RetrievalSettingSerializer(serializers.Serializer):
    top_k = serializers.IntegerField(min_value=1, max_value=100)
    score_threshold = serializers.FloatField(min_value=0, max_value=1, default=0.0)


class RetrievalRequestSerializer(serializers.Serializer):
    """Dify's External Knowledge API request."""

    knowledge_id = serializers.CharField(max_length=64)
    query = serializers.CharField(max_length=MAX_QUERY_CHARS, trim_whitespace=False)
    retrieval_setting = RetrievalSettingSerializer()
    # Sent as null or left out when unused; there is no metadata to filter on yet.
    metadata_condition = serializers.DictField(required=False, allow_null=True)

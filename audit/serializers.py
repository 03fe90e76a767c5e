from typing import Any

from rest_framework import serializers

from audit.models import AuditEntry, Outcome

MAX_PAGE = 500


class AuditQuerySerializer(serializers.Serializer):
    actor = serializers.CharField(max_length=200, required=False)
    # Exact, or a prefix ending in '*' ("llm.*").
    action = serializers.CharField(max_length=81, required=False)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since >= until:
            raise serializers.ValidationError({"until": "Must be after 'since'."})
        return attrs


class AuditPageSerializer(AuditQuerySerializer):
    # The `next_cursor` of the page before; pages go from newest to oldest.
    cursor = serializers.IntegerField(min_value=1, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=100)


class AuditExportSerializer(AuditQuerySerializer):
    # Not `format`: DRF reads that one to pick a renderer.
    file = serializers.ChoiceField(choices=["csv", "jsonl"], default="jsonl")


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor_id",
            "actor",
            "action",
            "outcome",
            "request_id",
            "client_ip",
            "details",
            "previous_hash",
            "entry_hash",
        ]


class AuditSettingsSerializer(serializers.Serializer):
    record_chat_text = serializers.BooleanField()

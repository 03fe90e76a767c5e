from rest_framework import serializers

from chat.models import Conversation, Message

MAX_QUESTION_CHARS = 4000


class ChatRequestSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=MAX_QUESTION_CHARS)
    knowledge_base_ids = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=50
    )
    conversation_id = serializers.CharField(
        max_length=64, required=False, allow_null=True
    )
    stream = serializers.BooleanField(required=False, default=False)


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "role", "content", "citations", "generated_by", "created_at"]


class ConversationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "title", "created_at", "updated_at"]

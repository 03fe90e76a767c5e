from rest_framework import serializers

from rag.models import Document, KnowledgeBase


class KnowledgeBaseSerializer(serializers.ModelSerializer):
    document_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = KnowledgeBase
        fields = [
            "id",
            "name",
            "description",
            "embedding_model",
            "embedding_dimensions",
            "document_count",
            "created_at",
            "generation",
            "building_generation",
            "pipeline_version",
            "reindexed_at",
        ]
        read_only_fields = [
            "id",
            "generation",
            "building_generation",
            "pipeline_version",
            "reindexed_at",
            "embedding_model",
            "embedding_dimensions",
            "created_at",
        ]


class KnowledgeBaseCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(
        max_length=5000, required=False, allow_blank=True
    )


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = [
            "id",
            "knowledge_base_id",
            "filename",
            "title",
            "content_type",
            "size_bytes",
            "status",
            "failure_reason",
            "page_count",
            "chunk_count",
            "created_at",
            "updated_at",
            "ingested_at",
            "metadata",
            "flags",
        ]
        read_only_fields = fields

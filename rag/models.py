"""Knowledge bases, their documents and the searchable chunks (tenant schema)."""

import uuid
from typing import TYPE_CHECKING

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField

if TYPE_CHECKING:
    from rag.stores.base import SearchScope

# The vector column is typed so HNSW can index it; a knowledge base records
# the model that produced its vectors and refuses chunks from any other.
EMBEDDING_DIMENSIONS = 384


class KnowledgeBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    embedding_model = models.CharField(max_length=200)
    embedding_dimensions = models.PositiveIntegerField()
    created_by_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Searches read only the chunks of the live generation. A re-index builds
    # the next one beside it and switches in one transaction, so chat keeps
    # answering from the old chunks until the new ones are all in.
    generation = models.PositiveIntegerField(default=1)
    building_generation = models.PositiveIntegerField(null=True)
    pipeline_version = models.CharField(max_length=40, blank=True)
    reindexed_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DocumentStatus(models.TextChoices):
    QUEUED = "queued"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    READY = "ready"
    FAILED = "failed"


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="documents"
    )
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=150, blank=True)
    size_bytes = models.PositiveBigIntegerField()
    content_hash = models.CharField(max_length=64)
    title = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED
    )
    failure_reason = models.CharField(max_length=500, blank=True)
    page_count = models.PositiveIntegerField(null=True)
    chunk_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    uploaded_by_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ingested_at = models.DateTimeField(null=True)
    # Read at ingestion from the file name, cover and opening pages (see
    # rag.metadata): subject, organisation, aliases, periods.
    metadata = models.JSONField(default=dict, blank=True)
    # What ingestion noticed about the content, e.g. text that addresses the
    # assistant with instructions (see rag.screening).
    flags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["knowledge_base", "content_hash"],
                name="document_content_once_per_kb",
            )
        ]

    def __str__(self) -> str:
        return self.filename


class DocumentFile(models.Model):
    """The uploaded bytes, kept apart so listing documents never loads them."""

    document = models.OneToOneField(
        Document, on_delete=models.CASCADE, primary_key=True, related_name="file"
    )
    content = models.BinaryField()


class Chunk(models.Model):
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="chunks"
    )
    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="chunks"
    )
    generation = models.PositiveIntegerField(default=1)
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    page = models.PositiveIntegerField(default=1)
    heading = models.CharField(max_length=500, blank=True)
    # Where the chunk sits ("title > heading path"). It is embedded and
    # indexed with the text, because a passage often leaves unsaid what it is
    # about ("Color: Khaki" under a product's spec sheet); citations show
    # only the text.
    context = models.CharField(max_length=1000, blank=True)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("context", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document_id", "ordinal"]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(name="chunk_search_vector_gin", fields=["search_vector"]),
            models.Index(name="chunk_document_ordinal", fields=["document", "ordinal"]),
            models.Index(
                name="chunk_kb_generation", fields=["knowledge_base", "generation"]
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


def chunks_in(scope: "SearchScope") -> models.Q:
    """The filter that keeps a chunk query inside a search scope."""
    live = models.Q(pk__in=[])
    for knowledge_base_id, generation in scope.generations.items():
        live |= models.Q(knowledge_base_id=knowledge_base_id, generation=generation)
    if scope.document_ids is not None:
        live &= models.Q(document_id__in=scope.document_ids)
    return live

"""The one way views load knowledge objects by id: missing or malformed ids are a 404."""

import uuid

from django.http import Http404

from rag.models import Document, KnowledgeBase


def _parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise Http404 from None


def get_knowledge_base(raw_id: str) -> KnowledgeBase:
    knowledge_base = KnowledgeBase.objects.filter(id=_parse_id(raw_id)).first()
    if knowledge_base is None:
        raise Http404
    return knowledge_base


def get_document(raw_id: str) -> Document:
    document = Document.objects.filter(id=_parse_id(raw_id)).first()
    if document is None:
        raise Http404
    return document


def get_knowledge_bases(raw_ids: list[str]) -> list[KnowledgeBase]:
    """All of the given knowledge bases, or a 404 naming none of them."""
    ids = {_parse_id(raw) for raw in raw_ids}
    found = list(KnowledgeBase.objects.filter(id__in=ids))
    if len(found) != len(ids):
        raise Http404
    return found

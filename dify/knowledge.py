"""Dify's External Knowledge API: a tenant's Dify app retrieves from the tenant's index.

Dify POSTs `{knowledge_id, query, retrieval_setting, metadata_condition}` to
`<endpoint>/retrieval` with `Authorization: Bearer <key>`, where the key is
one of this tenant's API keys with the "retrieval" scope. Errors use Dify's
documented body `{"error_code", "error_msg"}`: 1001 bad Authorization header
(401), 1002 key refused (403), 2001 unknown knowledge base (404), and our
own 400 with error_code 400 for a body that is not a retrieval request.
"""

import json
import logging
import time
import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.actions import record_denied
from audit.trail import record
from dify.serializers import RetrievalRequestSerializer
from rag.models import KnowledgeBase
from rag.retrieval import RetrievedChunk, search_knowledge
from rag.screening import screen
from tenants.api_keys import find_api_key
from tenants.context import current_tenant

logger = logging.getLogger(__name__)

RETRIEVAL_SCOPE = "retrieval"


def dify_error(status: int, code: int, message: str) -> JsonResponse:
    return JsonResponse({"error_code": code, "error_msg": message}, status=status)


@csrf_exempt
@require_POST
def retrieval(request: HttpRequest) -> JsonResponse:
    header = request.headers.get("Authorization", "").split()
    if len(header) != 2 or header[0].lower() != "bearer":
        record_denied(request, "access.denied", "dify_bad_authorization")
        return dify_error(
            401, 1001, "Invalid Authorization header format; send 'Bearer <api-key>'."
        )
    tenant = current_tenant()
    api_key = find_api_key(tenant, header[1])
    if api_key is None or RETRIEVAL_SCOPE not in api_key.scopes:
        record_denied(request, "access.denied", "dify_key_refused")
        return dify_error(403, 1002, "Authorization failed.")

    serializer = RetrievalRequestSerializer(data=_json_body(request))
    if not serializer.is_valid():
        fields = ", ".join(serializer.errors)
        return dify_error(400, 400, f"Invalid retrieval request; check: {fields}.")
    data = serializer.validated_data
    knowledge_base = _knowledge_base(data["knowledge_id"])
    if knowledge_base is None:
        return dify_error(404, 2001, "The knowledge base does not exist.")

    started = time.monotonic()
    setting = data["retrieval_setting"]
    found = search_knowledge(
        tenant,
        data["query"],
        knowledge_base_ids=[knowledge_base.id],
        top_k=setting["top_k"],
    )
    # "Not found" is an empty list to Dify, as with nothing above its threshold.
    chunks = [] if found.not_found else found.chunks
    records = [
        _record(chunk)
        for chunk in chunks
        if _scaled_score(chunk) >= setting["score_threshold"]
    ]
    record(
        "dify.retrieval",
        actor=f"api-key:{api_key.prefix}",
        details={
            "knowledge_base_id": str(knowledge_base.id),
            "top_k": setting["top_k"],
            "score_threshold": setting["score_threshold"],
            "records": len(records),
            "latency_ms": int((time.monotonic() - started) * 1000),
        },
    )
    return JsonResponse({"records": records})


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        # Malformed or nested too deeply: the serializer reports a bad body.
        return None


def _knowledge_base(raw_id: str) -> KnowledgeBase | None:
    try:
        knowledge_base_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    return KnowledgeBase.objects.filter(id=knowledge_base_id).first()


def _scaled_score(chunk: RetrievedChunk) -> float:
    """The fused rank score scaled to 0-1: first in both rankings scores 1.0.

    Dify compares the score with its threshold and ranks by it, so it must
    lie in 0-1; a raw reciprocal-rank score never exceeds 2 / (k + 1).
    """
    best = 2.0 / (int(settings.RAG["RRF_K"]) + 1)
    return round(min(chunk.score / best, 1.0), 4)


def _record(chunk: RetrievedChunk) -> dict[str, Any]:
    return {
        "content": chunk.text,
        "score": _scaled_score(chunk),
        "title": chunk.title,
        "metadata": {
            "document_id": str(chunk.document_id),
            "knowledge_base_id": str(chunk.knowledge_base_id),
            "filename": chunk.filename,
            "page": chunk.page,
            "heading": chunk.heading,
            "chunk_id": chunk.chunk_id,
            # Dify hands the content to its model as it is; the flag lets the
            # app's prompt or a workflow step treat such a passage as suspect.
            "instruction_like_text": screen([chunk.text]).instruction_like > 0,
        },
    }

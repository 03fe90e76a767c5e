"""A chat turn: retrieve from the tenant's knowledge, answer, and keep the history."""

import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.http import Http404

from audit.models import AuditSettings
from audit.trail import record
from chat.models import Conversation, Message, MessageRole
from llm.base import AnswerGenerator, Passage
from llm.config import config_for_current_tenant
from llm.extractive import quotable_units
from llm.gateway import Caller, prompt_tokens
from llm.providers.base import ChatMessage
from llm.registry import answer_generator_for
from rag.fetch import get_knowledge_bases
from rag.models import KnowledgeBase
from rag.retrieval import RetrievedChunk, search_knowledge
from tenants import quotas
from tenants.models import Tenant

logger = logging.getLogger(__name__)

TOP_K = 3
SNIPPET_CHARS = 300
# A passage far less similar than the best one is noise, not a source.
RELATIVE_SIMILARITY_FLOOR = 0.6
# "And which is the heaviest?" leaves its subject in the question before it.
# A short question that continues ("and", "what about") or points back ("it",
# "those") is searched with the previous one beside it. "That", "this" and
# "one" are left out: they start as many new questions ("this year's…").
FOLLOW_UP_MAX_WORDS = 8
_CONTINUES = re.compile(r"^\s*(?:and|but|also|or|so|what\s+about|how\s+about)\b", re.I)
_POINTS_BACK = re.compile(r"\b(?:it|its|they|them|their|those|these|ones)\b", re.I)


@dataclass
class ChatTurn:
    """Everything retrieved for one question, ready to be answered."""

    conversation: Conversation
    question: str
    passages: list[Passage]
    citations: list[dict[str, Any]]
    generator: AnswerGenerator
    answer_parts: list[str] = field(default_factory=list)
    # The model broke off mid-answer; what arrived is kept, marked as such.
    interrupted: bool = False
    actor_id: int | None = None
    actor: str = ""

    def stream(self) -> Iterator[str]:
        for part in self.generator.stream_answer(self.question, self.passages):
            self.answer_parts.append(part)
            yield part

    @property
    def answer(self) -> str:
        return "".join(self.answer_parts)


def check_quotas(tenant: Tenant, question: str) -> None:
    """Refuse the question before it is stored when a quota forbids it."""
    quota = quotas.quota_for(tenant)
    quotas.admit_request(tenant, quota)
    if not config_for_current_tenant().configured:
        return  # Extractive answers call no model and cost nothing.
    tokens = prompt_tokens([ChatMessage("user", question)])
    quotas.check_prompt(tenant, tokens, quota)
    quotas.check_budget(tenant, quota)


def start_turn(
    tenant: Tenant,
    user_id: int,
    question: str,
    knowledge_base_ids: list[str] | None,
    conversation_id: str | None,
    actor: str = "",
) -> ChatTurn:
    """Load or open the conversation, store the question and retrieve passages."""
    knowledge_bases = _searchable_knowledge_bases(knowledge_base_ids)
    conversation = _conversation_for(user_id, conversation_id, question)
    previous = _previous_question(conversation) if conversation_id else ""
    Message.objects.create(
        conversation=conversation, role=MessageRole.USER, content=question
    )

    found = retrieve(
        tenant,
        question,
        [kb.id for kb in knowledge_bases],
        follows=previous if is_follow_up(question) else "",
    )
    return ChatTurn(
        conversation=conversation,
        question=question,
        passages=passages_from(found),
        citations=[_citation(chunk) for chunk in found.chunks],
        generator=answer_generator_for(tenant, Caller(actor_id=user_id, actor=actor)),
        actor_id=user_id,
        actor=actor,
    )


def finish_turn(turn: ChatTurn) -> Message:
    """Store the answer with its citations."""
    with transaction.atomic():
        message = Message.objects.create(
            conversation=turn.conversation,
            role=MessageRole.ASSISTANT,
            content=turn.answer,
            citations=turn.citations,
            generated_by=(
                turn.generator.name + (" (interrupted)" if turn.interrupted else "")
            )[:100],
        )
        turn.conversation.save(update_fields=["updated_at"])
        record(
            "chat.answer",
            actor_id=turn.actor_id,
            actor=turn.actor,
            details=_audit_details(turn, message),
        )

    logger.info(
        "chat.answered",
        extra={
            "conversation_id": str(turn.conversation.id),
            "citations": len(turn.citations),
            "generator": turn.generator.name,
            "question_chars": len(turn.question),
            "answer_chars": len(message.content),
        },
    )
    return message


def _audit_details(turn: ChatTurn, message: Message) -> dict[str, Any]:
    details: dict[str, Any] = {
        "conversation_id": str(turn.conversation.id),
        "message_id": str(message.id),
        "generator": message.generated_by,
        "citations": len(turn.citations),
        "question_chars": len(turn.question),
        "answer_chars": len(message.content),
    }
    # Text only where the tenant chose to keep it; lengths otherwise.
    if AuditSettings.current().record_chat_text:
        details["question"] = turn.question
        details["answer"] = message.content
    return details


def get_conversation(user_id: int, raw_id: str) -> Conversation:
    """The caller's own conversation; anyone else's is indistinguishable from none."""
    try:
        conversation_id = uuid.UUID(str(raw_id))
    except ValueError:
        raise Http404 from None
    conversation = Conversation.objects.filter(
        id=conversation_id, user_id=user_id
    ).first()
    if conversation is None:
        raise Http404
    return conversation


def _searchable_knowledge_bases(raw_ids: list[str] | None) -> list[KnowledgeBase]:
    if raw_ids:
        return get_knowledge_bases(raw_ids)
    return list(KnowledgeBase.objects.all())


def is_follow_up(question: str) -> bool:
    """A short question that continues the one before or points back to it."""
    is_short = len(question.split()) <= FOLLOW_UP_MAX_WORDS
    return is_short and bool(
        _CONTINUES.search(question) or _POINTS_BACK.search(question)
    )


def _previous_question(conversation: Conversation) -> str:
    latest = (
        conversation.messages.filter(role=MessageRole.USER)
        .order_by("-created_at")
        .values_list("content", flat=True)
        .first()
    )
    return latest or ""


def _conversation_for(user_id: int, raw_id: str | None, question: str) -> Conversation:
    if raw_id:
        return get_conversation(user_id, raw_id)
    return Conversation.objects.create(
        user_id=user_id, title=" ".join(question.split())[:80]
    )


@dataclass(frozen=True)
class Retrieved:
    chunks: list[RetrievedChunk]
    # Documents the question itself names (a plan, a product, a company).
    named_document_ids: frozenset[uuid.UUID] = frozenset()


def retrieve(
    tenant: Tenant,
    question: str,
    knowledge_base_ids: list[uuid.UUID],
    follows: str = "",
) -> Retrieved:
    """The chunks worth showing a model (or quoting) for this question."""
    found = search_knowledge(
        tenant,
        question,
        knowledge_base_ids=knowledge_base_ids,
        top_k=TOP_K,
        follows=follows,
    )
    if found.not_found:
        # Nothing relevant: no passages, so the answer says so and cites nothing.
        return Retrieved([])
    named: frozenset[uuid.UUID] = frozenset()
    if found.plan is not None and found.plan.named and found.plan.document_ids:
        named = found.plan.document_ids
    return Retrieved(_relevant(found.chunks), named)


def passages_from(found: Retrieved) -> list[Passage]:
    return [
        _passage(number, chunk, chunk.document_id in found.named_document_ids)
        for number, chunk in enumerate(found.chunks, start=1)
    ]


def _relevant(chunks: list[RetrievedChunk]) -> list[RetrievedChunk]:
    best = max((chunk.similarity or 0.0 for chunk in chunks), default=0.0)
    floor = best * RELATIVE_SIMILARITY_FLOOR
    return [chunk for chunk in chunks if (chunk.similarity or 0.0) >= floor]


def _passage(number: int, chunk: RetrievedChunk, named: bool) -> Passage:
    return Passage(
        number=number,
        title=chunk.title,
        page=chunk.page,
        text=chunk.text,
        document_id=str(chunk.document_id),
        similarity=chunk.similarity,
        named_in_question=named,
    )


def _citation(chunk: RetrievedChunk) -> dict[str, Any]:
    return {
        "document_id": str(chunk.document_id),
        "knowledge_base_id": str(chunk.knowledge_base_id),
        "title": chunk.title,
        "filename": chunk.filename,
        "page": chunk.page,
        "heading": chunk.heading,
        "score": round(chunk.score, 6),
        "similarity": None if chunk.similarity is None else round(chunk.similarity, 4),
        "snippet": _snippet(chunk.text),
    }


def _snippet(text: str) -> str:
    """The passage as an answer may quote it: without text aimed at the assistant."""
    flat = " ".join(" ".join(quotable_units(text)).split())
    if len(flat) <= SNIPPET_CHARS:
        return flat
    return flat[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"

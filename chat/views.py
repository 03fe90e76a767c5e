"""Chat endpoints: ask a question (JSON or Server-Sent Events), read your history."""

import json
import logging
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django_tenants.utils import schema_context
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import actions
from chat.models import Conversation
from chat.serializers import (
    ChatRequestSerializer,
    ConversationSerializer,
    MessageSerializer,
)
from llm.gateway import LLMUnavailable, StreamInterrupted
from portal.errors import ApiError
from portal.logging import with_log_context
from tenants.authentication import user_id_of
from tenants.context import current_schema, current_tenant
from tenants.permissions import CanUseKnowledge

logger = logging.getLogger(__name__)


class ChatView(APIView):
    permission_classes = [IsAuthenticated, CanUseKnowledge]

    def post(self, request: Request) -> Response | StreamingHttpResponse:
        serializer = ChatRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actions.check_quotas(current_tenant(), data["query"])

        turn = actions.start_turn(
            current_tenant(),
            user_id_of(request),
            data["query"],
            data.get("knowledge_base_ids"),
            data.get("conversation_id"),
            actor=request.user.get_username(),
        )
        if data["stream"]:
            return _event_stream(turn, current_schema())

        try:
            for _ in turn.stream():
                pass
        except (LLMUnavailable, StreamInterrupted) as exc:
            raise _model_failure(exc) from exc
        message = actions.finish_turn(turn)
        return Response(
            {
                "answer": message.content,
                "citations": message.citations,
                "conversation_id": str(turn.conversation.id),
                "message_id": str(message.id),
                "generated_by": message.generated_by,
            }
        )


def _event_stream(turn: actions.ChatTurn, schema_name: str) -> StreamingHttpResponse:
    def events() -> Iterator[str]:
        yield _sse("citations", {"citations": turn.citations})
        try:
            for part in turn.stream():
                yield _sse("delta", {"text": part})
        except (LLMUnavailable, StreamInterrupted, ApiError) as exc:
            failure = exc if isinstance(exc, ApiError) else _model_failure(exc)
            yield _sse("error", failure.body())
            if not turn.answer:
                return
            turn.interrupted = True
        # The response is sent after the middleware has reset the schema, so
        # storing the answer names the tenant's schema again.
        with schema_context(schema_name):
            message = actions.finish_turn(turn)
        yield _sse(
            "done",
            {
                "conversation_id": str(turn.conversation.id),
                "message_id": str(message.id),
                "generated_by": message.generated_by,
            },
        )

    response = StreamingHttpResponse(
        with_log_context(events()), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _model_failure(exc: Exception) -> ApiError:
    if isinstance(exc, StreamInterrupted):
        return ApiError(502, "llm_interrupted", str(exc))
    logger.warning(
        "chat.llm_unavailable", extra={"attempts": getattr(exc, "attempts", [])}
    )
    if getattr(exc, "timed_out", False):
        return ApiError(
            504,
            "llm_timeout",
            "The language model provider did not answer in time; try again in a "
            "minute. Your question was kept in the conversation.",
        )
    return ApiError(
        502,
        "llm_unavailable",
        "No language model provider could answer right now; try again in a minute. "
        "Your question was kept in the conversation.",
    )


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


class ConversationListView(APIView):
    permission_classes = [IsAuthenticated, CanUseKnowledge]

    def get(self, request: Request) -> Response:
        conversations = Conversation.objects.filter(user_id=user_id_of(request))[:100]
        return Response(
            {"conversations": ConversationSerializer(conversations, many=True).data}
        )


class ConversationDetailView(APIView):
    permission_classes = [IsAuthenticated, CanUseKnowledge]

    def get(self, request: Request, conversation_id: str) -> Response:
        conversation = actions.get_conversation(user_id_of(request), conversation_id)
        body = ConversationSerializer(conversation).data
        body["messages"] = MessageSerializer(
            conversation.messages.all(), many=True
        ).data
        return Response(body)

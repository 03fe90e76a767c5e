"""An OpenAI-compatible Chat Completions endpoint in front of the tenant's providers.

Any OpenAI client, a tenant's Dify app included, can use the platform as its
model provider with a tenant API key: requests are routed, metered and
audited like the platform's own chat. Models offered: `auto` (routed),
`light`, `heavy`, and the tenant's configured model names.
"""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.config import TenantLLMConfig, config_for_current_tenant
from llm.gateway import Answer, Caller, Gateway, LLMUnavailable, StreamInterrupted
from llm.providers.base import CHARS_PER_TOKEN, ChatMessage, Usage
from llm.router import RouteDecision, RouteRequest, Task
from llm.serializers import ChatCompletionSerializer
from portal.errors import ApiError, error_body
from portal.logging import with_log_context
from pricing.tiers import Tier
from tenants import quotas
from tenants.api_keys import ApiKeyAuthentication, LlmScope
from tenants.context import current_tenant

ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
MAX_MESSAGES = 200
MAX_OUTPUT_TOKENS = 16384


class ModelsView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [LlmScope]

    def get(self, request: Request) -> Response:
        config = config_for_current_tenant()
        return Response(
            {
                "object": "list",
                "data": [
                    {
                        "id": name,
                        "object": "model",
                        "created": 0,
                        "owned_by": "platform",
                    }
                    for name in offered_models(config)
                ],
            }
        )


class ChatCompletionsView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [LlmScope]

    def post(self, request: Request) -> Response | StreamingHttpResponse:
        serializer = ChatCompletionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        quotas.admit_request(current_tenant())
        config = config_for_current_tenant()
        if not config.configured:
            raise ApiError(
                503,
                "no_provider",
                "No language model provider is configured for this tenant; "
                "an admin sets one under settings/llm.",
            )

        gateway = Gateway(current_tenant(), config)
        messages = [ChatMessage(m["role"], m["content"]) for m in body["messages"]]
        decision = _decision(gateway, config, body, messages)
        caller = Caller(actor=request.user.get_username())
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        options = {
            "task": _task(body),
            "caller": caller,
            "max_tokens": max_tokens,
            "temperature": body.get("temperature"),
        }
        if body["stream"]:
            include_usage = bool(
                (body.get("stream_options") or {}).get("include_usage")
            )
            stream = gateway.stream(messages, decision, **options)
            # Open the stream before answering: a request no provider can
            # serve gets a proper error status, not a 200 with an error event.
            deltas = iter(stream)
            try:
                first = next(deltas, None)
            except LLMUnavailable as exc:
                raise _unavailable(exc) from exc
            except StreamInterrupted as exc:
                raise ApiError(502, "llm_interrupted", str(exc)) from exc
            return _event_stream(
                stream, _resumed(first, deltas), include_usage, decision
            )

        try:
            answer = gateway.complete(messages, decision, **options)
        except LLMUnavailable as exc:
            raise _unavailable(exc) from exc
        return Response(_completion_body(answer), headers=_route_headers(decision))


def offered_models(config: TenantLLMConfig) -> list[str]:
    names = ["auto", Tier.LIGHT.value, Tier.HEAVY.value]
    for provider in config.chain:
        for model in (provider.light_model, provider.heavy_model):
            if model not in names:
                names.append(model)
    return names


def _decision(
    gateway: Gateway,
    config: TenantLLMConfig,
    body: dict[str, Any],
    messages: list[ChatMessage],
) -> RouteDecision:
    model = body["model"]
    if model in (Tier.LIGHT, Tier.HEAVY):
        return gateway.decide(RouteRequest(task=Task.CHAT, prompt_tokens=0), tier=model)
    for provider in config.chain:
        if model == provider.light_model:
            return gateway.decide(
                RouteRequest(task=Task.CHAT, prompt_tokens=0), tier=Tier.LIGHT
            )
        if model == provider.heavy_model:
            return gateway.decide(
                RouteRequest(task=Task.CHAT, prompt_tokens=0), tier=Tier.HEAVY
            )
    if model != "auto":
        raise ApiError(
            404,
            "model_not_found",
            f"Model '{model}' is not offered to this tenant; GET models lists those that are.",
        )
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return gateway.decide(
        RouteRequest(
            task=_task(body),
            prompt_tokens=sum(len(m.content) for m in messages) // CHARS_PER_TOKEN,
            question=last_user,
        )
    )


def _task(body: dict[str, Any]) -> Task:
    requested = str((body.get("metadata") or {}).get("task", ""))
    return Task(requested) if requested in Task._value2member_map_ else Task.CHAT


def _completion_body(answer: Answer) -> dict[str, Any]:
    completion = answer.completion
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "finish_reason": completion.finish_reason or "stop",
            }
        ],
        "usage": _usage_body(completion.usage),
    }


def _usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def _resumed(first: str | None, rest: Iterator[str]) -> Iterator[str]:
    if first is not None:
        yield first
    yield from rest


def _event_stream(
    stream: Any, deltas: Iterator[str], include_usage: bool, decision: RouteDecision
) -> StreamingHttpResponse:
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    def events() -> Iterator[str]:
        try:
            for number, text in enumerate(deltas):
                if number == 0:
                    yield chunk(stream.model, {"role": "assistant", "content": ""})
                yield chunk(stream.model, {"content": text})
        except LLMUnavailable as exc:
            failure = _unavailable(exc)
            yield f"data: {json.dumps(error_body(failure.error_code, str(failure.detail)))}\n\n"
            return
        except StreamInterrupted as exc:
            yield f"data: {json.dumps(error_body('llm_interrupted', str(exc)))}\n\n"
            return
        except ApiError as refused:
            # A quota reached by a concurrent request after the check.
            yield f"data: {json.dumps(refused.body())}\n\n"
            return
        answer = stream.answer
        model = answer.model
        yield chunk(model, {}, answer.completion.finish_reason or "stop")
        if include_usage:
            usage = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage_body(answer.completion.usage),
            }
            yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"

    response = StreamingHttpResponse(
        with_log_context(events()), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    for name, value in _route_headers(decision).items():
        response[name] = value
    return response


def _route_headers(decision: RouteDecision) -> dict[str, str]:
    return {"X-Route-Tier": decision.tier}


def _unavailable(exc: LLMUnavailable) -> ApiError:
    if exc.timed_out:
        return ApiError(
            504,
            "llm_timeout",
            "The language model provider did not answer in time; try again in a minute.",
        )
    return ApiError(
        502,
        "llm_unavailable",
        "No language model provider could answer right now; try again in a minute.",
    )

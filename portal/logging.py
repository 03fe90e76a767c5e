"""Structured logs: JSON lines carrying the request id and the tenant.

Modules log through the standard library (`logging.getLogger(__name__)` with
`extra={...}`); structlog renders every record and adds the fields bound to
the current request or task through context variables.
"""

import logging
import logging.config
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import structlog
from django.http import HttpRequest, HttpResponse

T = TypeVar("T")

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: structlog.typing.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer()

    shared_processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _describe_framework_objects,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structured": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "foreign_pre_chain": shared_processors,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        renderer,
                    ],
                }
            },
            "handlers": {
                "console": {"class": "logging.StreamHandler", "formatter": "structured"}
            },
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django.server": {"level": "WARNING"},
                "pypdf": {"level": "ERROR"},
                "pgserver": {"level": "WARNING"},
                "sentence_transformers": {"level": "WARNING"},
                "httpx": {"level": "WARNING"},
                "httpx2": {"level": "WARNING"},
                "google_genai": {"level": "WARNING"},
                # The Pinecone SDK logs every call at INFO.
                "pinecone": {"level": "WARNING"},
            },
        }
    )


def _describe_framework_objects(
    logger: object, method_name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Django attaches the request (or the raw socket) to its own log records."""
    request = event_dict.pop("request", None)
    if isinstance(request, HttpRequest):
        event_dict["method"] = request.method
        event_dict["path"] = request.path
    event_dict.pop("server_time", None)
    return event_dict


def with_log_context(events: Iterable[T]) -> Iterator[T]:
    """Iterate `events` with the log context of the request that made them.

    A streamed body is produced after the middleware has cleared the
    request's context; lines logged meanwhile would lose request and tenant.
    """
    context = structlog.contextvars.get_contextvars()

    def iterate() -> Iterator[T]:
        with structlog.contextvars.bound_contextvars(**context):
            yield from events

    return iterate()


def bind_tenant(schema_name: str | None, slug: str | None = None) -> None:
    structlog.contextvars.bind_contextvars(tenant=slug or schema_name)


class RequestContextMiddleware:
    """Bind a request id (the caller's, when well-formed) and the tenant to logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _request_id_from(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        # The client address goes with the request id into the audit trail
        # of everything the request does, streamed answers included.
        structlog.contextvars.bind_contextvars(
            request_id=request_id, client_ip=request.META.get("REMOTE_ADDR")
        )
        tenant = getattr(request, "tenant", None)
        if tenant is not None and tenant.schema_name != "public":
            bind_tenant(tenant.schema_name, tenant.slug)

        response = self.get_response(request)

        response[REQUEST_ID_HEADER] = request_id
        structlog.contextvars.clear_contextvars()
        return response


def _request_id_from(request: HttpRequest) -> str:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    if _SAFE_REQUEST_ID.match(supplied):
        return supplied
    return uuid.uuid4().hex

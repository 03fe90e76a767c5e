"""One error shape for every API response: {"error": {"code", "message"}}."""

from typing import Any

from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response


class ApiError(exceptions.APIException):
    """An error with a stable code and a message a person can act on."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        # More fields of the error body, such as the quota that was reached.
        self.extra = extra or {}
        # DRF's handler turns `wait` into a Retry-After header.
        self.wait = retry_after

    def body(self) -> dict[str, Any]:
        return error_body(self.error_code, str(self.detail), **self.extra)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views loads the authentication classes,
    # which raise ApiError from this module.
    from rest_framework.views import exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None

    code, message, fields = _describe(exc)
    body = error_body(code, message, **({"fields": fields} if fields else {}))
    if isinstance(exc, ApiError):
        body["error"].update(exc.extra)
    response.data = body
    if response.status_code in DENIED_STATUSES:
        _record_denial(context, code)
    return response


DENIED_STATUSES = (401, 403)


def _record_denial(context: dict[str, Any], code: str) -> None:
    from audit.actions import already_recorded, record_denied

    request = context.get("request")
    if request is None or already_recorded(request):
        return
    view = context.get("view")
    record_denied(
        request,
        "access.denied",
        code,
        view=type(view).__name__ if view is not None else "",
    )


def _describe(exc: Exception) -> tuple[str, str, Any]:
    if isinstance(exc, ApiError):
        return exc.error_code, str(exc.detail), None
    if isinstance(exc, exceptions.ValidationError):
        return "invalid_request", _validation_summary(exc.detail), exc.detail
    if isinstance(exc, exceptions.APIException):
        return _describe_api_exception(exc)
    return "error", str(exc), None


def _describe_api_exception(exc: exceptions.APIException) -> tuple[str, str, Any]:
    detail = exc.detail
    # simplejwt puts a dict with its own code and the failing token's messages here.
    if isinstance(detail, dict):
        code = str(detail.get("code") or exc.default_code)
        message = str(detail.get("detail") or exc.default_detail)
        return code, message, None
    code = getattr(detail, "code", None) or exc.default_code
    return str(code), str(detail), None


def _validation_summary(detail: Any) -> str:
    if isinstance(detail, dict):
        parts = [
            f"{field}: {_first_problem(problems)}" for field, problems in detail.items()
        ]
        return "Invalid request. " + "; ".join(parts)
    return f"Invalid request. {_first_problem(detail)}".rstrip()


def _first_problem(problems: Any) -> str:
    """The first message in DRF's nested error structure (lists and dicts of them)."""
    while isinstance(problems, list | dict) and problems:
        problems = (
            next(iter(problems.values())) if isinstance(problems, dict) else problems[0]
        )
    return str(problems) if problems else ""


def bad_request_view(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):
        return error_response(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            "request_too_large",
            "The request body is too large for this endpoint.",
        )
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        return error_response(
            status.HTTP_400_BAD_REQUEST,
            "too_many_fields",
            "The request has too many fields or files.",
        )
    return error_response(
        status.HTTP_400_BAD_REQUEST, "bad_request", "The request is malformed."
    )


def permission_denied_view(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return error_response(
        status.HTTP_403_FORBIDDEN, "forbidden", "This is not allowed."
    )


def not_found_view(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return error_response(
        status.HTTP_404_NOT_FOUND, "not_found", "Nothing was found at this address."
    )


def server_error_view(request: HttpRequest) -> JsonResponse:
    return error_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "server_error",
        "The server failed to handle this request; it has been logged with its request id.",
    )

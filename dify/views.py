"""The tenant's Dify settings and the proxy to its Dify app's service API."""

from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dify import actions, proxy
from dify.models import DifyObjectKind
from dify.serializers import (
    ChatMessageSerializer,
    DifyConnectionSerializer,
    FeedbackSerializer,
    RenameSerializer,
)
from tenants import quotas
from tenants.authentication import user_id_of
from tenants.context import current_schema, current_tenant
from tenants.permissions import CanUseKnowledge, IsTenantAdmin

CONVERSATION = DifyObjectKind.CONVERSATION
TASK = DifyObjectKind.TASK
MESSAGE = DifyObjectKind.MESSAGE


class DifySettingsView(APIView):
    permission_classes = [IsAuthenticated, IsTenantAdmin]

    def get(self, request: Request) -> Response:
        return Response(actions.describe_connection(actions.current_connection()))

    def put(self, request: Request) -> Response:
        serializer = DifyConnectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        connection = actions.connect_dify_app(
            serializer.validated_data,
            actor_id=user_id_of(request),
            actor=request.user.get_username(),
        )
        return Response(actions.describe_connection(connection))


class DifyProxyView(APIView):
    """Base: members and admins of the tenant, relayed as themselves."""

    permission_classes = [IsAuthenticated, CanUseKnowledge]

    def caller(self, request: Request) -> proxy.Caller:
        return proxy.Caller(
            tenant=current_tenant(),
            user_id=user_id_of(request),
            actor=request.user.get_username(),
        )


class ChatMessagesView(DifyProxyView):
    def post(self, request: Request) -> HttpResponse | StreamingHttpResponse:
        serializer = ChatMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = dict(serializer.validated_data)
        caller = self.caller(request)
        quotas.admit_request(caller.tenant)
        if body["conversation_id"]:
            proxy.require_owned(CONVERSATION, body["conversation_id"], caller)

        body["user"] = caller.dify_user
        hold = actions.hold_budget(caller.tenant, body["query"])
        try:
            if body["response_mode"] == "streaming":
                return proxy.chat_streaming(caller, body, current_schema(), hold)
            return proxy.chat_blocking(caller, body, hold)
        except BaseException:
            hold.close()
            raise


class StopTaskView(DifyProxyView):
    def post(self, request: Request, task_id: str) -> HttpResponse:
        caller = self.caller(request)
        proxy.require_owned(TASK, task_id, caller)

        response, _ = proxy.relay(
            caller,
            "chat-messages.stop",
            "POST",
            f"chat-messages/{task_id}/stop",
            body={"user": caller.dify_user},
        )
        return response


class ConversationListView(DifyProxyView):
    def get(self, request: Request) -> HttpResponse:
        caller = self.caller(request)
        params = _passed_params(request, ("last_id", "limit", "sort_by"))
        params["user"] = caller.dify_user

        response, _ = proxy.relay(
            caller, "conversations.list", "GET", "conversations", params=params
        )
        return response


class ConversationView(DifyProxyView):
    def delete(self, request: Request, conversation_id: str) -> HttpResponse:
        caller = self.caller(request)
        proxy.require_owned(CONVERSATION, conversation_id, caller)

        response, answer = proxy.relay(
            caller,
            "conversations.delete",
            "DELETE",
            f"conversations/{conversation_id}",
            body={"user": caller.dify_user},
        )
        if answer.is_success:
            actions.forget_owned(CONVERSATION, conversation_id)
        return response


class RenameConversationView(DifyProxyView):
    def post(self, request: Request, conversation_id: str) -> HttpResponse:
        serializer = RenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        caller = self.caller(request)
        proxy.require_owned(CONVERSATION, conversation_id, caller)

        response, _ = proxy.relay(
            caller,
            "conversations.rename",
            "POST",
            f"conversations/{conversation_id}/name",
            body={**serializer.validated_data, "user": caller.dify_user},
        )
        return response


class MessagesView(DifyProxyView):
    def get(self, request: Request) -> HttpResponse:
        caller = self.caller(request)
        conversation_id = request.query_params.get("conversation_id", "")
        proxy.require_owned(CONVERSATION, conversation_id, caller)
        params = _passed_params(request, ("conversation_id", "first_id", "limit"))
        params["user"] = caller.dify_user

        response, _ = proxy.relay(caller, "messages", "GET", "messages", params=params)
        return response


class FeedbackView(DifyProxyView):
    def post(self, request: Request, message_id: str) -> HttpResponse:
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        caller = self.caller(request)
        proxy.require_owned(MESSAGE, message_id, caller)

        response, _ = proxy.relay(
            caller,
            "messages.feedbacks",
            "POST",
            f"messages/{message_id}/feedbacks",
            body={**serializer.validated_data, "user": caller.dify_user},
        )
        return response


class AppParametersView(DifyProxyView):
    def get(self, request: Request) -> HttpResponse:
        response, _ = proxy.relay(
            self.caller(request), "parameters", "GET", "parameters"
        )
        return response


class AppInfoView(DifyProxyView):
    def get(self, request: Request) -> HttpResponse:
        response, _ = proxy.relay(self.caller(request), "info", "GET", "info")
        return response


def _passed_params(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return {
        name: request.query_params[name][:100]
        for name in names
        if request.query_params.get(name)
    }

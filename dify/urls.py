from django.urls import path

from dify import views

urlpatterns = [
    path("settings/dify", views.DifySettingsView.as_view(), name="dify-settings"),
    path(
        "dify/chat-messages",
        views.ChatMessagesView.as_view(),
        name="dify-chat-messages",
    ),
    path(
        "dify/chat-messages/<slug:task_id>/stop",
        views.StopTaskView.as_view(),
        name="dify-stop",
    ),
    path(
        "dify/conversations",
        views.ConversationListView.as_view(),
        name="dify-conversations",
    ),
    path(
        "dify/conversations/<slug:conversation_id>",
        views.ConversationView.as_view(),
        name="dify-conversation",
    ),
    path(
        "dify/conversations/<slug:conversation_id>/name",
        views.RenameConversationView.as_view(),
        name="dify-conversation-name",
    ),
    path("dify/messages", views.MessagesView.as_view(), name="dify-messages"),
    path(
        "dify/messages/<slug:message_id>/feedbacks",
        views.FeedbackView.as_view(),
        name="dify-feedbacks",
    ),
    path("dify/parameters", views.AppParametersView.as_view(), name="dify-parameters"),
    path("dify/info", views.AppInfoView.as_view(), name="dify-info"),
]

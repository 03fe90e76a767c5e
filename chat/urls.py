from django.urls import path

from chat import views

urlpatterns = [
    path("chat", views.ChatView.as_view(), name="chat"),
    path("conversations", views.ConversationListView.as_view(), name="conversations"),
    path(
        "conversations/<str:conversation_id>",
        views.ConversationDetailView.as_view(),
        name="conversation",
    ),
]

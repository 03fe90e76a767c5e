from django.urls import path

from llm import openai_api

urlpatterns = [
    path(
        "chat/completions",
        openai_api.ChatCompletionsView.as_view(),
        name="openai-chat-completions",
    ),
    path("models", openai_api.ModelsView.as_view(), name="openai-models"),
]

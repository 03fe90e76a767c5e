from django.urls import path

from llm import views

urlpatterns = [
    path("settings/llm", views.LLMSettingsView.as_view(), name="llm-settings"),
    path("usage", views.UsageView.as_view(), name="usage"),
]

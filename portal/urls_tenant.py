"""URLs of one tenant; django-tenants mounts them under /t/<slug>/."""

from django.urls import include, path

from dify.knowledge import retrieval
from portal.errors import (
    bad_request_view,
    not_found_view,
    permission_denied_view,
    server_error_view,
)

urlpatterns = [
    path("api/v1/", include("tenants.urls")),
    path("api/v1/", include("rag.urls")),
    path("api/v1/", include("chat.urls")),
    path("api/v1/", include("llm.urls")),
    path("api/v1/", include("dify.urls")),
    path("api/v1/", include("audit.urls")),
    # OpenAI-compatible, for OpenAI clients and Dify apps (tenant API keys).
    path("llm/v1/", include("llm.openai_urls")),
    # Dify's External Knowledge API (tenant API keys with the retrieval scope).
    path("dify/retrieval", retrieval, name="dify-retrieval"),
]

handler400 = bad_request_view
handler403 = permission_denied_view
handler404 = not_found_view
handler500 = server_error_view

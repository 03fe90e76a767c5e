"""URLs of one tenant; django-tenants mounts them under /t/<slug>/."""

from django.urls import include, path

from portal.errors import not_found_view, server_error_view

urlpatterns = [
    path("api/v1/", include("tenants.urls")),
    path("api/v1/", include("rag.urls")),
    path("api/v1/", include("chat.urls")),
]

handler404 = not_found_view
handler500 = server_error_view

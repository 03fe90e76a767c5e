"""URLs outside any tenant: health and the API description."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from portal.errors import not_found_view, server_error_view


def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("health", health, name="health"),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
]

handler404 = not_found_view
handler500 = server_error_view

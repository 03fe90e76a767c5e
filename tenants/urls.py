from django.urls import path

from tenants import api_key_views, quota_views, views

urlpatterns = [
    path("auth/token", views.ObtainTokenView.as_view(), name="auth-token"),
    path(
        "auth/token/refresh",
        views.RefreshTokenView.as_view(),
        name="auth-token-refresh",
    ),
    path("quotas", quota_views.QuotaView.as_view(), name="quotas"),
    path("api-keys", api_key_views.ApiKeyListView.as_view(), name="api-keys"),
    path(
        "api-keys/<str:key_id>",
        api_key_views.ApiKeyDetailView.as_view(),
        name="api-key",
    ),
]

from django.urls import path

from tenants import views

urlpatterns = [
    path("auth/token", views.ObtainTokenView.as_view(), name="auth-token"),
    path(
        "auth/token/refresh",
        views.RefreshTokenView.as_view(),
        name="auth-token-refresh",
    ),
]

from django.urls import path

from audit import views

urlpatterns = [
    path("audit", views.AuditListView.as_view(), name="audit"),
    path("audit/export", views.AuditExportView.as_view(), name="audit-export"),
    path("audit/<str:entry_id>", views.AuditEntryView.as_view(), name="audit-entry"),
    path("settings/audit", views.AuditSettingsView.as_view(), name="audit-settings"),
]

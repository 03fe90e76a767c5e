from django.urls import path

from rag import views

urlpatterns = [
    path(
        "knowledge-bases", views.KnowledgeBaseListView.as_view(), name="knowledge-bases"
    ),
    path(
        "knowledge-bases/<str:knowledge_base_id>/documents",
        views.KnowledgeBaseDocumentsView.as_view(),
        name="knowledge-base-documents",
    ),
    path(
        "knowledge-bases/<str:knowledge_base_id>/reindex",
        views.KnowledgeBaseReindexView.as_view(),
        name="knowledge-base-reindex",
    ),
    path(
        "documents/<str:document_id>",
        views.DocumentDetailView.as_view(),
        name="document",
    ),
    path(
        "documents/<str:document_id>/file",
        views.DocumentFileView.as_view(),
        name="document-file",
    ),
]

"""Knowledge base and document endpoints of the tenant API."""

import mimetypes

from django.db.models import Count
from django.http import Http404, HttpResponse
from django.utils.http import content_disposition_header
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.trail import record
from portal.errors import ApiError
from rag import actions
from rag.fetch import get_document, get_knowledge_base
from rag.models import Document, DocumentFile, KnowledgeBase
from rag.serializers import (
    DocumentSerializer,
    KnowledgeBaseCreateSerializer,
    KnowledgeBaseSerializer,
)
from tenants.authentication import user_id_of
from tenants.permissions import CanUseKnowledge, KnowledgeAccess


class KnowledgeBaseListView(APIView):
    permission_classes = [IsAuthenticated, KnowledgeAccess]

    def get(self, request: Request) -> Response:
        knowledge_bases = KnowledgeBase.objects.annotate(
            document_count=Count("documents")
        )
        return Response(
            {
                "knowledge_bases": KnowledgeBaseSerializer(
                    knowledge_bases, many=True
                ).data
            }
        )

    def post(self, request: Request) -> Response:
        serializer = KnowledgeBaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        knowledge_base = actions.create_knowledge_base(
            name=serializer.validated_data["name"],
            description=serializer.validated_data.get("description", ""),
            user_id=user_id_of(request),
            actor=request.user.get_username(),
        )
        return Response(
            KnowledgeBaseSerializer(knowledge_base).data, status=status.HTTP_201_CREATED
        )


class KnowledgeBaseDocumentsView(APIView):
    permission_classes = [IsAuthenticated, KnowledgeAccess]

    def get(self, request: Request, knowledge_base_id: str) -> Response:
        knowledge_base = get_knowledge_base(knowledge_base_id)
        documents = Document.objects.filter(knowledge_base=knowledge_base)
        return Response({"documents": DocumentSerializer(documents, many=True).data})

    def post(self, request: Request, knowledge_base_id: str) -> Response:
        knowledge_base = get_knowledge_base(knowledge_base_id)
        files = _incoming_files(request)

        outcomes = actions.upload_documents(
            knowledge_base,
            files,
            user_id=user_id_of(request),
            actor=request.user.get_username(),
        )

        body = [
            {
                "id": str(outcome.document.id),
                "filename": outcome.document.filename,
                "status": outcome.document.status,
                "duplicate": outcome.duplicate,
            }
            for outcome in outcomes
        ]
        return Response({"documents": body}, status=status.HTTP_202_ACCEPTED)


def _incoming_files(request: Request) -> list[actions.IncomingFile]:
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(
            415,
            "multipart_required",
            "Upload files as multipart/form-data in the 'files' field.",
        )
    uploads = request.FILES.getlist("files") + request.FILES.getlist("file")
    # Check sizes before reading anything into memory.
    actions.check_upload_limits(
        [(upload.name or "unnamed", upload.size or 0) for upload in uploads]
    )
    return [
        actions.IncomingFile(
            filename=upload.name or "unnamed",
            content_type=_declared_or_guessed_type(upload.name, upload.content_type),
            content=upload.read(),
        )
        for upload in uploads
    ]


def _declared_or_guessed_type(filename: str | None, declared: str | None) -> str:
    # curl and many scripts send every file as application/octet-stream.
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename or "")[0] or declared or ""


class DocumentDetailView(APIView):
    permission_classes = [IsAuthenticated, KnowledgeAccess]

    def get(self, request: Request, document_id: str) -> Response:
        return Response(DocumentSerializer(get_document(document_id)).data)

    def delete(self, request: Request, document_id: str) -> Response:
        document = get_document(document_id)
        chunk_count = actions.delete_document(
            document, user_id=user_id_of(request), actor=request.user.get_username()
        )
        return Response({"deleted": str(document_id), "chunks_deleted": chunk_count})


class DocumentFileView(APIView):
    """The uploaded bytes, only ever as a download the browser will not render."""

    permission_classes = [IsAuthenticated, CanUseKnowledge]

    def get(self, request: Request, document_id: str) -> HttpResponse:
        document = get_document(document_id)
        stored = DocumentFile.objects.filter(document=document).first()
        if stored is None:
            raise Http404
        response = HttpResponse(
            bytes(stored.content), content_type="application/octet-stream"
        )
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=document.filename
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        record(
            "document.download",
            actor_id=user_id_of(request),
            actor=request.user.get_username(),
            details={"document_id": str(document.id), "filename": document.filename},
        )
        return response


class KnowledgeBaseReindexView(APIView):
    permission_classes = [IsAuthenticated, KnowledgeAccess]

    def post(self, request: Request, knowledge_base_id: str) -> Response:
        knowledge_base = get_knowledge_base(knowledge_base_id)

        generation = actions.start_reindex(
            knowledge_base,
            user_id=user_id_of(request),
            actor=request.user.get_username(),
        )

        knowledge_base.refresh_from_db()
        return Response(
            {
                "knowledge_base_id": str(knowledge_base.id),
                "building_generation": generation,
                "live_generation": knowledge_base.generation,
                "pipeline_version": knowledge_base.pipeline_version,
            },
            status=status.HTTP_202_ACCEPTED,
        )

"""Uploading, ingesting, finding and deleting documents through the tenant API.

Uploads run the real parser and embedding model before the call returns
(the test settings ingest inline), so a document is ready or failed as soon
as the upload answers.
"""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Max, Min
from pypdf import PdfReader, PdfWriter

from chat.models import Conversation
from rag.actions import INTERNAL_FAILURE
from rag.models import Chunk, Document, KnowledgeBase
from tests.conftest import SAMPLES_DIR, api
from tests.rag.conftest import (
    CONTOSO_DIR,
    NASTY_DIR,
    ask,
    create_knowledge_base,
    file_from,
    text_file,
    upload,
    uploaded_documents,
)

NASTY_FILES = sorted(
    path
    for path in NASTY_DIR.iterdir()
    if path.is_file() and path.name != "LICENSES.md"
)
MAX_FILES_PER_REQUEST = 20
NORTHWIND_PLANS = {
    "Northwind_Standard_Benefits_Details.pdf",
    "Northwind_Health_Plus_Benefits_Details.pdf",
}
BALANCE_BILLING = "What protection does Zava offer against balance billing?"
UNIQUE_WORD = "zorblaxifrent"


def in_batches(items, size):  # type: ignore[no-untyped-def]
    return [items[start : start + size] for start in range(0, len(items), size)]


def pdf_needing_a_user_password() -> bytes:
    # RC4 keeps this independent of the optional AES packages.
    writer = PdfWriter(clone_from=PdfReader(NASTY_DIR / "multilang.pdf"))
    writer.encrypt("user-secret", "owner-secret", algorithm="RC4-128")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def documents_in(in_schema, tenant, knowledge_base_id):  # type: ignore[no-untyped-def]
    with in_schema(tenant):
        return list(
            Document.objects.filter(knowledge_base_id=knowledge_base_id).values_list(
                "filename", flat=True
            )
        )


def filled(path, document):  # type: ignore[no-untyped-def]
    return path.format(
        knowledge_base=document["knowledge_base_id"], document=document["id"]
    )


def send(client, method, url, body):  # type: ignore[no-untyped-def]
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    return client.post(url, body, format="json" if "files" not in body else "multipart")


def assert_hr_document_unchanged(hr, client_for, hr_document, in_schema):  # type: ignore[no-untyped-def]
    current = client_for(hr, "hr_admin").get(api(hr, f"documents/{hr_document['id']}"))
    assert current.status_code == 200
    assert current.json() == hr_document
    with in_schema(hr):
        filenames = Document.objects.filter(
            knowledge_base_id=hr_document["knowledge_base_id"]
        ).values_list("filename", flat=True)
        assert list(filenames) == ["parking.txt"]
        assert Chunk.objects.filter(document_id=hr_document["id"]).count() == 1


# Awkward files


def test_nasty_files_end_ready_or_failed_and_the_server_keeps_serving(
    hr, client_for, hr_knowledge_base
):
    # given
    client = client_for(hr, "hr_admin")

    # when
    documents = []
    for batch in in_batches(NASTY_FILES, MAX_FILES_PER_REQUEST):
        documents += uploaded_documents(
            client, hr, hr_knowledge_base, [file_from(path) for path in batch]
        )
    listing = client.get(api(hr, "knowledge-bases"))
    answer = ask(
        client,
        hr,
        "Is beautiful better than ugly?",
        knowledge_base_ids=[hr_knowledge_base],
    )

    # then
    outcomes = {
        document["filename"]: (
            document["status"],
            document["chunk_count"],
            document["failure_reason"],
        )
        for document in documents
    }
    assert sorted(outcomes) == [path.name for path in NASTY_FILES]
    for filename, (status, chunk_count, failure_reason) in outcomes.items():
        if status == "ready":
            assert chunk_count > 0, filename
            assert failure_reason == "", filename
        else:
            assert status == "failed", filename
            assert chunk_count == 0, filename
            assert failure_reason.strip(), filename
            assert failure_reason != INTERNAL_FAILURE, filename
    assert outcomes["c02-22.pdf"][2] == (
        "no text layer: scanned document (OCR is not supported)"
    )
    assert outcomes["empty.txt"][2] == "file is empty"
    assert outcomes["fake-text-all-whitespace.txt"][2] == "file has no text"
    assert listing.status_code == 200
    counts = {
        kb["id"]: kb["document_count"] for kb in listing.json()["knowledge_bases"]
    }
    assert counts[hr_knowledge_base] == len(NASTY_FILES)
    assert answer.status_code == 200
    assert answer.json()["citations"][0]["filename"] == "zen_of_python_corrupted.pdf"


# The corpus's r6-user-password.pdf has an empty owner password, so it opens
# (see tests/rag/test_parsing.py); a PDF that really needs a password is made here.
@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        pytest.param(
            "locked.pdf",
            pdf_needing_a_user_password(),
            "encrypted PDF needs a password",
            id="user_password_pdf_case",
        ),
        pytest.param(
            "tool.exe",
            bytes(range(256)) * 8,
            "unsupported file type '.exe': upload PDF, DOCX, HTML, Markdown or plain text",
            id="binary_file_case",
        ),
    ],
)
def test_unreadable_file_fails_with_a_reason(
    hr, client_for, hr_knowledge_base, filename, content, reason
):
    # given
    file = SimpleUploadedFile(filename, content)

    # when
    [document] = uploaded_documents(
        client_for(hr, "hr_admin"), hr, hr_knowledge_base, [file]
    )

    # then
    assert document["status"] == "failed"
    assert document["failure_reason"] == reason
    assert document["chunk_count"] == 0


# The contoso corpus, ingested once for this module


def test_contoso_pdfs_are_ready_with_every_page_counted(hr, contoso_in_hr):
    # given
    expected_pages = {
        path.name: len(PdfReader(path).pages)
        for path in sorted(CONTOSO_DIR.glob("*.pdf"))
    }

    # then
    documents = contoso_in_hr.documents
    assert {name: doc["status"] for name, doc in documents.items()} == {
        name: "ready" for name in expected_pages
    }
    assert {name: doc["page_count"] for name, doc in documents.items()} == (
        expected_pages
    )
    assert all(doc["chunk_count"] > 0 for doc in documents.values())


def test_contoso_chunks_stay_within_their_documents_pages(hr, contoso_in_hr, in_schema):
    # when
    with in_schema(hr):
        ranges = {
            row["document__filename"]: row
            for row in Chunk.objects.filter(
                knowledge_base_id=contoso_in_hr.knowledge_base_id
            )
            .values("document__filename")
            .annotate(first=Min("page"), last=Max("page"))
        }

    # then
    assert sorted(ranges) == sorted(contoso_in_hr.documents)
    for filename, document in contoso_in_hr.documents.items():
        assert ranges[filename]["first"] == 1, filename
        assert 1 <= ranges[filename]["last"] <= document["page_count"], filename


def test_question_is_answered_from_hrs_northwind_plan(hr, client_for, contoso_in_hr):
    # when
    response = ask(client_for(hr, "hr_member"), hr, BALANCE_BILLING)

    # then
    assert response.status_code == 200
    citations = response.json()["citations"]
    hr_ids = {doc["id"] for doc in contoso_in_hr.documents.values()}
    assert citations
    assert {citation["document_id"] for citation in citations} <= hr_ids
    assert citations[0]["filename"] in NORTHWIND_PLANS


def test_same_question_under_support_cites_nothing_of_hr(
    support, client_for, contoso_in_hr
):
    # given
    client = client_for(support, "support_admin")
    knowledge_base_id = create_knowledge_base(client, support, "Support policies")
    support_documents = uploaded_documents(
        client,
        support,
        knowledge_base_id,
        [
            file_from(SAMPLES_DIR / "support" / "warranty-and-returns-policy.md"),
            file_from(SAMPLES_DIR / "support" / "escalation-procedure.txt"),
        ],
    )

    # when
    response = ask(client_for(support, "support_member"), support, BALANCE_BILLING)

    # then
    assert response.status_code == 200
    citations = response.json()["citations"]
    hr_documents = contoso_in_hr.documents.values()
    # Support's documents never name Zava, so "nothing found" is the right
    # answer there; what must never happen is a citation of hr's booklets.
    assert citations or "found nothing" in response.json()["answer"]
    assert {c["document_id"] for c in citations} <= {d["id"] for d in support_documents}
    assert not {c["document_id"] for c in citations} & {d["id"] for d in hr_documents}
    assert not {c["filename"] for c in citations} & {
        d["filename"] for d in hr_documents
    }


# Duplicates and deletion


def test_same_content_in_one_request_is_stored_once(
    hr, client_for, hr_knowledge_base, in_schema
):
    # given
    text = "Desks are cleaned every Friday after six."

    # when
    response = upload(
        client_for(hr, "hr_admin"),
        hr,
        hr_knowledge_base,
        [text_file("desks.txt", text), text_file("desks-copy.txt", text)],
    )

    # then
    assert response.status_code == 202
    first, second = response.json()["documents"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert second["id"] == first["id"]
    assert second["filename"] == "desks.txt"
    assert documents_in(in_schema, hr, hr_knowledge_base) == ["desks.txt"]


def test_same_content_in_a_second_request_is_stored_once(
    hr, client_for, hr_knowledge_base, in_schema
):
    # given
    client = client_for(hr, "hr_admin")
    text = "Desks are cleaned every Friday after six."
    first = upload(client, hr, hr_knowledge_base, [text_file("desks.txt", text)])

    # when
    second = upload(client, hr, hr_knowledge_base, [text_file("again.txt", text)])

    # then
    assert second.status_code == 202
    [original] = first.json()["documents"]
    assert second.json()["documents"] == [
        {
            "id": original["id"],
            "filename": "desks.txt",
            "status": "ready",
            "duplicate": True,
        }
    ]
    assert documents_in(in_schema, hr, hr_knowledge_base) == ["desks.txt"]


def test_deleted_document_can_no_longer_be_found(
    hr, client_for, hr_knowledge_base, in_schema
):
    # given
    client = client_for(hr, "hr_admin")
    [document] = uploaded_documents(
        client,
        hr,
        hr_knowledge_base,
        [text_file("retreat.txt", f"The {UNIQUE_WORD} retreat is held in May.")],
    )
    question = f"When is the {UNIQUE_WORD} retreat?"
    [found, *_] = ask(client, hr, question).json()["citations"]
    assert found["document_id"] == document["id"]
    assert UNIQUE_WORD in found["snippet"]

    # when
    response = client.delete(api(hr, f"documents/{document['id']}"))

    # then
    assert response.status_code == 200
    assert response.json() == {"deleted": document["id"], "chunks_deleted": 1}
    after = ask(client, hr, question).json()["citations"]
    assert document["id"] not in {c["document_id"] for c in after}
    assert not [c for c in after if UNIQUE_WORD in c["snippet"]]
    assert client.get(api(hr, f"documents/{document['id']}")).status_code == 404
    with in_schema(hr):
        assert Chunk.objects.filter(document_id=document["id"]).count() == 0
        assert not Document.objects.filter(id=document["id"]).exists()


# Limits


def test_file_over_the_size_limit_refuses_the_whole_upload(
    hr, client_for, hr_knowledge_base, in_schema, settings
):
    # given
    settings.RAG = {**settings.RAG, "MAX_UPLOAD_MB": 1}
    small = text_file("small.txt", "A short note about the canteen menu.")
    large = text_file("large.txt", "x" * (1024 * 1024 + 1))

    # when
    response = upload(client_for(hr, "hr_admin"), hr, hr_knowledge_base, [small, large])

    # then
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert documents_in(in_schema, hr, hr_knowledge_base) == []


def test_more_files_than_allowed_are_refused(
    hr, client_for, hr_knowledge_base, in_schema
):
    # given
    files = [
        text_file(f"note-{number}.txt", f"Note number {number}.")
        for number in range(MAX_FILES_PER_REQUEST + 1)
    ]

    # when
    response = upload(client_for(hr, "hr_admin"), hr, hr_knowledge_base, files)

    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_files"
    assert documents_in(in_schema, hr, hr_knowledge_base) == []


def test_upload_that_is_not_multipart_is_refused(hr, client_for, hr_knowledge_base):
    # when
    response = client_for(hr, "hr_admin").post(
        api(hr, f"knowledge-bases/{hr_knowledge_base}/documents"),
        {"files": ["not a file"]},
        format="json",
    )

    # then
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "multipart_required"


def test_upload_without_files_is_refused(hr, client_for, hr_knowledge_base):
    # when
    response = client_for(hr, "hr_admin").post(
        api(hr, f"knowledge-bases/{hr_knowledge_base}/documents"),
        {"note": "nothing attached"},
        format="multipart",
    )

    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_files"


# Roles


@pytest.mark.parametrize(
    ("username", "method", "path"),
    [
        pytest.param(
            "hr_member", "post", "knowledge-bases", id="member_creates_base_case"
        ),
        pytest.param(
            "hr_member",
            "post",
            "knowledge-bases/{knowledge_base}/documents",
            id="member_uploads_case",
        ),
        pytest.param(
            "hr_member", "delete", "documents/{document}", id="member_deletes_case"
        ),
        pytest.param(
            "hr_auditor", "get", "knowledge-bases", id="auditor_lists_bases_case"
        ),
        pytest.param(
            "hr_auditor", "get", "documents/{document}", id="auditor_reads_case"
        ),
        pytest.param("hr_auditor", "post", "chat", id="auditor_chats_case"),
    ],
)
def test_role_without_the_right_is_refused(
    hr, client_for, hr_document, in_schema, username, method, path
):
    # given
    body = {
        "knowledge-bases": {"name": "Shadow base"},
        "chat": {"query": "parking permit"},
    }.get(path, {"files": [text_file("extra.txt", "An extra note.")]})

    # when
    response = send(
        client_for(hr, username), method, api(hr, filled(path, hr_document)), body
    )

    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert_hr_document_unchanged(hr, client_for, hr_document, in_schema)
    with in_schema(hr):
        assert not KnowledgeBase.objects.filter(name="Shadow base").exists()
        assert Conversation.objects.count() == 0


def test_member_reads_a_document_and_chats(hr, client_for, hr_document):
    # given
    client = client_for(hr, "hr_member")

    # when
    document = client.get(api(hr, f"documents/{hr_document['id']}"))
    answer = ask(
        client,
        hr,
        "How much does a parking permit cost?",
        knowledge_base_ids=[hr_document["knowledge_base_id"]],
    )

    # then
    assert document.status_code == 200
    assert document.json() == hr_document
    assert answer.status_code == 200
    assert answer.json()["citations"][0]["document_id"] == hr_document["id"]


# Tenant isolation

HR_OBJECT_CALLS = [
    pytest.param("get", "documents/{document}", id="read_document_case"),
    pytest.param("delete", "documents/{document}", id="delete_document_case"),
    pytest.param(
        "post", "knowledge-bases/{knowledge_base}/documents", id="upload_into_base_case"
    ),
]


@pytest.mark.parametrize(("method", "path"), HR_OBJECT_CALLS)
def test_hr_ids_are_not_found_through_supports_path(
    hr, support, client_for, hr_document, in_schema, method, path
):
    # given
    body = {"files": [text_file("planted.txt", "Planted by another tenant.")]}

    # when
    response = send(
        client_for(support, "support_admin"),
        method,
        api(support, filled(path, hr_document)),
        body,
    )

    # then
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert_hr_document_unchanged(hr, client_for, hr_document, in_schema)
    with in_schema(support):
        assert not Document.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("hr", id="own_header_case"),
        pytest.param("support", id="supports_header_case"),
    ],
)
@pytest.mark.parametrize(("method", "path"), HR_OBJECT_CALLS)
def test_hr_token_at_supports_path_is_refused(
    hr, support, client_for, hr_document, in_schema, header, method, path
):
    # given
    body = {"files": [text_file("planted.txt", "Planted by another tenant.")]}

    # when
    response = send(
        client_for(hr, "hr_admin", header=header),
        method,
        api(support, filled(path, hr_document)),
        body,
    )

    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_mismatch"
    assert_hr_document_unchanged(hr, client_for, hr_document, in_schema)

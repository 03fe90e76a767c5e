"""Each chunk knows which document and section it comes from."""

import pytest

from rag.actions import chunk_context
from rag.models import Chunk
from tests.conftest import SAMPLES_DIR, api


@pytest.mark.parametrize(
    ("title", "heading", "expected"),
    [
        pytest.param("Leave Policy", "", "Leave Policy", id="no_heading_case"),
        pytest.param(
            "Leave Policy", "Leave Policy", "Leave Policy", id="heading_is_title_case"
        ),
        pytest.param(
            "Leave Policy",
            "Leave Policy > Sick leave",
            "Leave Policy > Sick leave",
            id="heading_starts_with_title_case",
        ),
        pytest.param(
            "Plan",
            "Costs > Copays",
            "Plan > Costs > Copays",
            id="heading_below_title_case",
        ),
        pytest.param("", "Costs", "Costs", id="no_title_case"),
        pytest.param(
            "Item 11 (TrailWalker Shoes)",
            "Item 11 > Technical Specs",
            "Item 11 (TrailWalker Shoes) > Technical Specs",
            id="heading_opens_with_the_title_before_its_subject_case",
        ),
    ],
)
def test_context_names_document_and_section_once(title, heading, expected):
    assert chunk_context(title, heading) == expected


def test_ingested_chunks_carry_their_context(hr, client_for, in_schema):
    # given
    client = client_for(hr, "hr_admin")
    knowledge_base = client.post(
        api(hr, "knowledge-bases"), {"name": "Policies"}, format="json"
    ).json()
    with (SAMPLES_DIR / "hr" / "remote-work-policy.txt").open("rb") as handle:
        client.post(
            api(hr, f"knowledge-bases/{knowledge_base['id']}/documents"),
            {"files": [handle]},
            format="multipart",
        )

    # when
    with in_schema(hr):
        contexts = set(Chunk.objects.values_list("context", flat=True))

    # then
    assert contexts
    assert all(context.startswith("remote work policy") for context in contexts)

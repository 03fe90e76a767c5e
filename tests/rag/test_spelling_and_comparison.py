"""Misspelt questions and product comparisons, through uploads, search and chat."""

from django_tenants.utils import schema_context

from rag.retrieval import search_knowledge
from rag.spelling import english_words
from tests.rag.conftest import ask, create_knowledge_base, text_file, uploaded_documents

WARRANTY_SHEET = """# Fabrikam Trail Jacket

## Warranty Information
The Fabrikam Trail Jacket is backed by a two-year limited warranty from the
date of purchase. The warranty is non-transferable.

## Care
Wash cold and hang to dry. Reproof the shell with a spray every season.
"""

TENT_SHEET = """# Product {number}
{name}, price ${price}

## Category
Tents

## Technical Specs
- **Capacity**: {capacity}-person
- **Rainfly Waterproof Rating**: {rating}mm
- **Weight:** {weight} lbs

## Reviews
A reviewer said the {name} kept them dry through a long night of heavy rain.
"""


def tent(number: int, name: str, rating: int, weight: int) -> str:
    return TENT_SHEET.format(
        number=number,
        name=name,
        price=100 + number,
        capacity=2 + number,
        rating=rating,
        weight=weight,
    )


def knowledge_with(tenant, client_for, files):  # type: ignore[no-untyped-def]
    client = client_for(tenant, f"{tenant.slug}_admin")
    knowledge_base_id = create_knowledge_base(client, tenant, "Catalogue")
    documents = uploaded_documents(client, tenant, knowledge_base_id, files)
    assert all(document["status"] == "ready" for document in documents), documents
    return knowledge_base_id


def search(tenant, knowledge_base_id, question):  # type: ignore[no-untyped-def]
    with schema_context(tenant.schema_name):
        return search_knowledge(
            tenant, question, knowledge_base_ids=[knowledge_base_id], top_k=3
        )


def test_misspelt_word_is_searched_as_the_documents_spell_it(hr, client_for):
    # given
    knowledge_base_id = knowledge_with(
        hr, client_for, [text_file("jacket.md", WARRANTY_SHEET)]
    )

    # when
    found = search(hr, knowledge_base_id, "How long is the jacket under warrenty?")

    # then
    assert [(c.typed, c.corrected) for c in found.corrections] == [
        ("warrenty", "warranty")
    ]
    assert "two-year limited warranty" in found.chunks[0].text


def test_real_words_and_names_are_left_as_typed(hr, client_for):
    # given
    knowledge_base_id = knowledge_with(
        hr, client_for, [text_file("jacket.md", WARRANTY_SHEET)]
    )

    # when: "compare" is English though the sheet never uses it, and a
    # capitalised name one letter from a document word is still a name.
    found = search(hr, knowledge_base_id, "Fabrikan warranty: compare jackets")

    # then
    assert "compare" in english_words()
    assert found.corrections == ()


def test_another_tenants_words_never_correct_a_question(hr, support, client_for):
    # given: only hr's documents hold the word "warranty"
    knowledge_with(hr, client_for, [text_file("jacket.md", WARRANTY_SHEET)])
    support_knowledge = knowledge_with(
        support, client_for, [text_file("hours.md", "# Hours\nOpen from nine to five.")]
    )

    # when
    found = search(support, support_knowledge, "What does the warrenty cover?")

    # then
    assert found.corrections == ()
    assert all("warranty" not in chunk.text.lower() for chunk in found.chunks)


def test_superlative_question_cites_the_winning_product_first(hr, client_for):
    # given
    knowledge_with(
        hr,
        client_for,
        [
            text_file("ridge.md", tent(1, "Ridge Tent", rating=2000, weight=12)),
            text_file("dome.md", tent(2, "Dome Tent", rating=3500, weight=9)),
            text_file("cabin.md", tent(3, "Cabin Tent", rating=1500, weight=20)),
            text_file("jacket.md", WARRANTY_SHEET),
        ],
    )

    # when
    response = ask(
        client_for(hr, "hr_member"), hr, "Which tent is the most waterproof?"
    )

    # then
    assert response.status_code == 200, response.content
    citations = response.json()["citations"]
    assert citations[0]["filename"] == "dome.md"
    assert citations[0]["similarity"] is not None
    assert "3500mm" in citations[0]["snippet"]
    assert {c["filename"] for c in citations} <= {"ridge.md", "dome.md", "cabin.md"}


def test_comparison_stays_inside_the_tenant(hr, support, client_for):
    # given: hr's tent is far more waterproof than support's two
    knowledge_with(
        hr, client_for, [text_file("storm.md", tent(9, "Storm Tent", 9000, 30))]
    )
    knowledge_with(
        support,
        client_for,
        [
            text_file("ridge.md", tent(1, "Ridge Tent", rating=2000, weight=12)),
            text_file("dome.md", tent(2, "Dome Tent", rating=3500, weight=9)),
        ],
    )

    # when
    response = ask(
        client_for(support, "support_member"),
        support,
        "Which tent is the most waterproof?",
    )

    # then
    citations = response.json()["citations"]
    assert citations[0]["filename"] == "dome.md"
    assert all(c["filename"] != "storm.md" for c in citations)


def test_comparison_on_a_pinecone_deployment(hr, fake_pinecone, settings, client_for):
    # given: the chunk table holds no vectors; they live in the tenant's namespace
    settings.RAG = {**settings.RAG, "VECTOR_STORE": "pinecone"}
    knowledge_with(
        hr,
        client_for,
        [
            text_file("ridge.md", tent(1, "Ridge Tent", rating=2000, weight=12)),
            text_file("dome.md", tent(2, "Dome Tent", rating=3500, weight=9)),
            text_file("cabin.md", tent(3, "Cabin Tent", rating=1500, weight=20)),
        ],
    )

    # when
    response = ask(client_for(hr, "hr_member"), hr, "What is the heaviest tent?")

    # then
    citations = response.json()["citations"]
    assert citations[0]["filename"] == "cabin.md"
    assert citations[0]["similarity"] > 0


def test_follow_up_question_keeps_the_subject_of_the_one_before(hr, client_for):
    # given
    knowledge_with(
        hr,
        client_for,
        [
            text_file("ridge.md", tent(1, "Ridge Tent", rating=2000, weight=12)),
            text_file("dome.md", tent(2, "Dome Tent", rating=3500, weight=9)),
            text_file("cabin.md", tent(3, "Cabin Tent", rating=1500, weight=20)),
            text_file("jacket.md", WARRANTY_SHEET),
        ],
    )
    member = client_for(hr, "hr_member")
    first = ask(member, hr, "Which tent is the most waterproof?").json()

    # when
    follow_up = ask(
        member,
        hr,
        "and which is the heaviest?",
        conversation_id=first["conversation_id"],
    )

    # then
    assert follow_up.status_code == 200, follow_up.content
    assert follow_up.json()["citations"][0]["filename"] == "cabin.md"


PLAN_SHEET = """# Fabrikam {name} Plan

The Fabrikam {name} plan costs {price} dollars a month and covers dental care.
"""


def test_follow_up_naming_its_own_subject_is_searched_alone(hr, client_for):
    # given
    knowledge_with(
        hr,
        client_for,
        [
            text_file("basic-plan.md", PLAN_SHEET.format(name="Basic", price=40)),
            text_file("plus-plan.md", PLAN_SHEET.format(name="Plus", price=90)),
        ],
    )
    member = client_for(hr, "hr_member")
    first = ask(member, hr, "How much does the Basic plan cost?").json()

    def follow_up(question):  # type: ignore[no-untyped-def]
        return ask(
            member, hr, question, conversation_id=first["conversation_id"]
        ).json()

    # when
    plus = follow_up("what about the Plus plan?")
    unknown = follow_up("what about the Zephyr plan?")

    # then
    assert [c["filename"] for c in plus["citations"]] == ["plus-plan.md"]
    assert unknown["citations"] == []

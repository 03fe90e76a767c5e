"""Metadata read at ingestion and the question reader that uses it (pure functions)."""

import uuid
from datetime import date

from rag.metadata import DocumentMetadata, Period, extract_metadata
from rag.parsing import ParsedDocument, Section
from rag.query import CatalogueEntry, asked_periods, plan_query

FILING_COVER = """FORM 10-Q
For the quarterly period ended March 30, 2024
Contoso Widgets Inc.
(Exact name of registrant as specified in its charter)
Title of each class Trading symbol(s) Name of each exchange
Common Stock, $0.01 par value per share CWGT The Nasdaq Stock Market LLC
"""


def filing(filename: str, end: date, quarter: int) -> CatalogueEntry:
    metadata = DocumentMetadata(
        organisation="Contoso Widgets Inc.",
        aliases=["CWGT"],
        periods=[Period(end.year, quarter, "name")],
        period_end=end,
    )
    return CatalogueEntry(uuid.uuid4(), filename, filename, metadata)


def booklet(title: str, subject: str) -> CatalogueEntry:
    return CatalogueEntry(
        uuid.uuid4(), title, f"{title}.pdf", DocumentMetadata(subject=subject)
    )


def test_filing_cover_gives_company_ticker_and_period():
    # given
    document = ParsedDocument(
        title="2024 Q1 CWGT",
        page_count=2,
        sections=[Section(FILING_COVER, 1, ""), Section("Revenue grew.", 2, "")],
    )

    # when
    metadata = extract_metadata("2024 Q1 CWGT.pdf", document)

    # then
    assert metadata.organisation == "Contoso Widgets Inc."
    assert metadata.aliases == ["CWGT"]
    assert metadata.period_end == date(2024, 3, 30)
    assert metadata.periods[0] == Period(2024, 1, "name")


def test_cover_page_names_the_plan():
    document = ParsedDocument(
        title="Plan booklet",
        page_count=3,
        sections=[
            Section("Fabrikam", 1, ""),
            Section("Fabrikam Gold Dental Plan", 1, "Fabrikam Gold Dental Plan"),
            Section("Long text " * 40, 2, ""),
        ],
    )

    assert extract_metadata("booklet.pdf", document).subject == (
        "Fabrikam Fabrikam Gold Dental Plan"
    )


def test_question_periods_in_several_wordings():
    assert asked_periods("revenue in Q3 2023?") == [(2023, 3)]
    assert asked_periods("in the second quarter of 2022") == [(2022, 2)]
    assert asked_periods("the 2024 Q1 filing") == [(2024, 1)]


def test_named_quarter_picks_that_filing():
    # given
    q1 = filing("2024 Q1 CWGT", date(2024, 3, 30), 1)
    q2 = filing("2024 Q2 CWGT", date(2024, 6, 29), 2)

    # when
    plan = plan_query("What was CWGT's gross margin in Q2 2024?", [q1, q2])

    # then
    assert plan.document_ids == {q2.document_id}


def test_latest_is_resolved_from_the_documents_own_periods():
    q1 = filing("2024 Q1 CWGT", date(2024, 3, 30), 1)
    q2 = filing("2024 Q2 CWGT", date(2024, 6, 29), 2)

    plan = plan_query("What did the latest 10-Q say about debt?", [q2, q1])

    assert plan.document_ids == {q2.document_id}


def test_an_opening_sentence_is_no_name():
    document = ParsedDocument(
        title="Greenhouse notes",
        page_count=1,
        sections=[
            Section(
                "# Greenhouse notes\nLeave cuttings in water for three days, then pot.",
                1,
                "Greenhouse notes",
            )
        ],
    )

    assert extract_metadata("greenhouse-notes.md", document).subject == ""


def test_a_title_case_line_below_the_title_names_the_product():
    document = ParsedDocument(
        title="Information about product item",
        page_count=1,
        sections=[
            Section(
                "# Information about product item\nTrailWalker Hiking Shoes, price $110",
                1,
                "Information about product item",
            )
        ],
    )

    assert extract_metadata("product_1.md", document).subject == (
        "TrailWalker Hiking Shoes"
    )


def test_a_naming_by_lowercase_words_alone_is_weak():
    cleaning = booklet("Out-of-hours cleaning schedule", "")
    escalation = booklet("Escalation procedure", "")
    gold = booklet("Fabrikam Gold Benefits", "Fabrikam Gold Dental Plan")

    weak = plan_query("Who do I call out of hours?", [cleaning, escalation, gold])
    strong = plan_query("Is the Gold plan dear?", [cleaning, escalation, gold])
    untrusted = plan_query(
        "Who do I call out of hours?",
        [cleaning, escalation, gold],
        lowercase_names=False,
    )

    assert weak.document_ids == {cleaning.document_id} and weak.weakly_named
    for opening_capital in ("Out of hours, who do I call?", "Call Out-of-hours?"):
        assert plan_query(opening_capital, [cleaning, escalation, gold]).weakly_named
    assert strong.named and not strong.weakly_named
    assert untrusted.document_ids is None and not untrusted.named


def test_plan_named_in_the_question_narrows_to_its_booklet():
    gold = booklet("Fabrikam Gold Benefits", "Fabrikam Gold Dental Plan")
    silver = booklet("Fabrikam Silver Benefits", "Fabrikam Silver Dental Plan")
    handbook = booklet("Handbook", "Fabrikam Employee Handbook")

    plan = plan_query("Does the Gold plan cover implants?", [gold, silver, handbook])

    assert plan.document_ids == {gold.document_id}
    assert "Gold" not in plan.focus


def test_question_fitting_two_plans_is_spread_over_both():
    gold = booklet("Fabrikam Dental Gold", "Fabrikam Dental Gold Plan")
    silver = booklet("Fabrikam Dental Silver", "Fabrikam Dental Silver Plan")
    handbook = booklet("Handbook", "Employee Handbook")
    perks = booklet("Perks", "Wellness Perks")

    plan = plan_query(
        "What does Fabrikam Dental cover?", [gold, silver, handbook, perks]
    )

    assert plan.document_ids == {gold.document_id, silver.document_id}
    assert plan.diversify


def test_company_with_no_documents_is_an_unknown_name():
    q1 = filing("2024 Q1 CWGT", date(2024, 3, 30), 1)
    other = filing("2024 Q2 CWGT", date(2024, 6, 29), 2)

    plan = plan_query("How has Northwind Traders' revenue changed?", [q1, other])

    assert plan.unknown_names == ("Northwind", "Traders")
    assert not plan.named


SPEC_SHEET = """# Product 7
Fabrikam Ridge Tent, price $300

## Category
Tents

## Technical Specs
- **Capacity**: 4-person
- **Rainfly Waterproof Rating**: 2500mm
- **Weight:** 14 lbs
- **Customer Support Phone**: +1-800-555-0100
- Do not store the tent wet: mildew damages the fabric within 2 days of storage.
"""


def spec_sheet(name: str, category: str, **specifications: str) -> CatalogueEntry:
    metadata = DocumentMetadata(
        subject=name, category=category, specifications=specifications
    )
    return CatalogueEntry(uuid.uuid4(), name, f"{name}.md", metadata)


def test_spec_sheet_gives_category_and_measured_specifications():
    document = ParsedDocument(
        title="Product 7", page_count=1, sections=[Section(SPEC_SHEET, 1, "")]
    )

    metadata = extract_metadata("product_7.md", document)

    assert metadata.category == "Tents"
    assert metadata.specifications["Rainfly Waterproof Rating"] == "2500mm"
    assert metadata.specifications["Weight"] == "14 lbs"
    # A sentence with a number is not a specification.
    assert not any("store" in name.lower() for name in metadata.specifications)


def test_superlative_question_is_answered_by_the_winning_specification():
    # given
    ridge = spec_sheet(
        "Ridge Tent",
        "Tents",
        **{"Rainfly Waterproof Rating": "2500mm", "Weight": "14 lbs"},
    )
    dome = spec_sheet(
        "Dome Tent",
        "Tents",
        **{"Rainfly Waterproof Rating": "4000mm", "Weight": "9 lbs"},
    )
    summit = spec_sheet("Summit Pack", "Backpacks", Weight="3 lbs")

    # when
    wettest = plan_query("Which tent is the most waterproof?", [ridge, dome, summit])
    lightest = plan_query("What is the lightest tent?", [ridge, dome, summit])

    # then
    assert wettest.leader == (dome.document_id, "Rainfly Waterproof Rating")
    assert wettest.document_ids == {ridge.document_id, dome.document_id}
    assert wettest.diversify
    # The adjective names its measure, and the lightest pack is not a tent.
    assert lightest.leader == (dome.document_id, "Weight")


def test_superlative_without_a_comparable_specification_is_a_plain_search():
    ridge = spec_sheet("Ridge Tent", "Tents", Weight="14 lbs")
    dome = spec_sheet("Dome Tent", "Tents", Weight="9 lbs")
    q1 = filing("2024 Q1 CWGT", date(2024, 3, 30), 1)

    assert (
        plan_query("Which tent is the most comfortable?", [ridge, dome]).leader is None
    )
    assert (
        plan_query("What is the most important feature?", [ridge, dome]).leader is None
    )
    assert plan_query("What did the most recent filing report?", [q1]).leader is None


def test_long_blank_runs_in_a_line_are_read_at_once():
    # A pattern that backtracked over whitespace took minutes on such lines.
    text = "Name:" + " " * 5000 + "x\n" + ("Weight:" + " \t" * 90 + "5 kg\n") * 500
    document = ParsedDocument("x", 1, [Section(text, 1, "")])

    assert extract_metadata("x.md", document).specifications == {"Weight": "5 kg"}


def test_limits_and_periods_are_not_comparisons():
    # given
    ridge = spec_sheet("Ridge Tent", "Tents", **{"Number of Doors": "2"})
    dome = spec_sheet("Dome Tent", "Tents", **{"Number of Doors": "3"})
    q1 = filing("2024 Q1 CWGT", date(2024, 3, 30), 1)
    q4 = filing("2023 Q4 CWGT", date(2023, 12, 30), 4)

    # when
    limit = plan_query("Does a tent need at least 2 doors?", [ridge, dome])
    uncategorised = plan_query("Which has the most doors?", [ridge, dome])
    revenue = plan_query("What was the highest revenue in Q1 2024?", [q1, q4])

    # then
    assert limit.leader is None
    assert uncategorised.leader is None  # no category or document named
    assert revenue.leader is None
    assert revenue.document_ids == {q1.document_id}


def test_values_are_compared_with_sign_and_unit():
    # given
    bags = [
        spec_sheet("Arctic Bag", "Sleeping Bags", **{"Temperature Rating": "-20°F"}),
        spec_sheet("Summer Bag", "Sleeping Bags", **{"Temperature Rating": "15°F"}),
        spec_sheet("Trail Bag", "Sleeping Bags", **{"Temperature Rating": "5°F"}),
    ]
    packs = [
        spec_sheet("Day Pack", "Backpacks", Weight="1,5 kg"),
        spec_sheet("Trek Pack", "Backpacks", Weight="900 g"),
    ]

    # when
    coldest = plan_query("Which sleeping bag has the lowest temperature rating?", bags)
    mixed_units = plan_query("Which is the lightest backpack?", packs)

    # then
    assert coldest.leader == (bags[0].document_id, "Temperature Rating")
    assert mixed_units.leader is None

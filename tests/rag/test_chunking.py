"""Chunking keeps every chunk inside one page and one heading."""

from rag.chunking import document_label, split_into_chunks
from rag.parsing import ParsedDocument, Section, parse_document
from tests.corpus import CORPUS_DIR

CORPUS = CORPUS_DIR


def paragraphs(label: str, count: int) -> str:
    return "\n\n".join(
        f"{label} paragraph {number} explains one rule of the plan in plain words."
        for number in range(count)
    )


def two_page_document() -> ParsedDocument:
    return ParsedDocument(
        title="Plan",
        page_count=2,
        sections=[
            Section(text=paragraphs("First", 40), page=1, heading=""),
            Section(text=paragraphs("Second", 40), page=2, heading="Dental"),
        ],
    )


def test_long_sections_are_split_under_the_chunk_size() -> None:
    # when
    chunks = split_into_chunks(two_page_document(), chunk_size=300, chunk_overlap=50)

    # then
    assert len(chunks) > 2
    assert all(len(chunk.text) <= 300 for chunk in chunks)


def test_ordinals_count_up_from_zero() -> None:
    chunks = split_into_chunks(two_page_document(), chunk_size=300, chunk_overlap=50)

    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))


def test_no_chunk_crosses_a_page_or_heading() -> None:
    # given
    document = two_page_document()

    # when
    chunks = split_into_chunks(document, chunk_size=300, chunk_overlap=50)

    # then
    for chunk in chunks:
        section = document.sections[chunk.page - 1]
        assert chunk.text in section.text
        assert chunk.heading == section.heading
    assert all("Second" not in chunk.text for chunk in chunks if chunk.page == 1)
    assert all("First" not in chunk.text for chunk in chunks if chunk.page == 2)


def test_neighbouring_chunks_overlap() -> None:
    chunks = split_into_chunks(two_page_document(), chunk_size=300, chunk_overlap=100)

    first, second = chunks[0].text, chunks[1].text

    assert first.splitlines()[-1] in second


def test_blank_sections_produce_no_chunks() -> None:
    # given
    document = ParsedDocument(
        title="Sparse",
        page_count=3,
        sections=[
            Section(text="   \n\n  ", page=1, heading=""),
            Section(text="Only real text.", page=2, heading=""),
            Section(text="\n", page=3, heading=""),
        ],
    )

    # when
    chunks = split_into_chunks(document)

    # then
    assert [(chunk.ordinal, chunk.text, chunk.page) for chunk in chunks] == [
        (0, "Only real text.", 2)
    ]


def test_short_section_becomes_one_chunk() -> None:
    document = ParsedDocument(
        title="Memo",
        page_count=1,
        sections=[Section(text="Dental\nTwo cleanings.", page=1, heading="Dental")],
    )

    chunks = split_into_chunks(document)

    assert len(chunks) == 1
    assert chunks[0].text == "Dental\nTwo cleanings."
    assert chunks[0].heading == "Dental"


def test_real_pdf_chunks_stay_on_their_page() -> None:
    # given
    content = (CORPUS / "contoso" / "PerksPlus.pdf").read_bytes()
    document = parse_document(content, "PerksPlus.pdf")
    text_by_page = {section.page: section.text for section in document.sections}

    # when
    chunks = split_into_chunks(document, chunk_size=500, chunk_overlap=75)

    # then
    assert {chunk.page for chunk in chunks} == set(text_by_page)
    assert all(chunk.text in text_by_page[chunk.page] for chunk in chunks)
    assert all(len(chunk.text) <= 500 for chunk in chunks)


def test_short_sections_of_a_page_share_a_chunk_under_the_largest_ones_heading():
    # given
    document = ParsedDocument(
        title="Tent",
        page_count=1,
        sections=[
            Section(text="# Tent\nTrailMaster X4, price $250", page=1, heading="Tent"),
            Section(text="## Brand\nOutdoorLiving", page=1, heading="Tent > Brand"),
            Section(text="## Category\nTents", page=1, heading="Tent > Category"),
        ],
    )

    # when
    chunks = split_into_chunks(document, chunk_size=200, chunk_overlap=0)

    # then
    assert len(chunks) == 1
    assert "OutdoorLiving" in chunks[0].text
    assert "price $250" in chunks[0].text
    assert chunks[0].heading == "Tent"


def test_a_long_section_keeps_its_own_heading():
    document = ParsedDocument(
        title="Plan",
        page_count=1,
        sections=[
            Section(text="Intro line.", page=1, heading="Plan"),
            Section(text=paragraphs("Dental", 30), page=1, heading="Plan > Dental"),
        ],
    )

    chunks = split_into_chunks(document, chunk_size=300, chunk_overlap=0)

    assert chunks[0].heading == "Plan"
    assert {chunk.heading for chunk in chunks[1:]} == {"Plan > Dental"}


def test_label_adds_the_name_under_a_generic_title_without_its_details():
    document = ParsedDocument(
        title="Information about product 1",
        page_count=1,
        sections=[
            Section(
                text="# Information about product 1\nTrailMaster X4 Tent, price $250,",
                page=1,
                heading="Information about product 1",
            )
        ],
    )

    assert (
        document_label(document) == "Information about product 1 (TrailMaster X4 Tent)"
    )


def test_label_of_a_pdf_is_its_title():
    document = ParsedDocument(
        title="Benefits",
        page_count=1,
        sections=[Section(text="UNITED STATES\nForm 10-Q", page=1, heading="")],
    )

    assert document_label(document) == "Benefits"


def test_packed_chunk_is_labelled_by_the_section_holding_most_of_it():
    # given
    specs = "## Technical Specs\n" + "\n".join(
        f"**Attribute {number}**: value {number}" for number in range(8)
    )
    document = ParsedDocument(
        title="Tent",
        page_count=1,
        sections=[
            Section(text=specs, page=1, heading="Tent > Technical Specs"),
            Section(text="## User Guide", page=1, heading="Tent > User Guide"),
        ],
    )

    # when
    chunks = split_into_chunks(document, chunk_size=1000, chunk_overlap=0)

    # then
    assert len(chunks) == 1
    assert chunks[0].heading == "Tent > Technical Specs"


def table(rows: int) -> str:
    lines = ["| Plan | Copay | Deductible |", "| --- | --- | --- |"]
    lines += [f"| Plan {n} | ${n}0 | ${n}00 |" for n in range(rows)]
    return "\n".join(lines)


def test_a_table_that_fits_stays_in_one_chunk_with_its_prose():
    # given
    text = "Costs by plan:\n" + table(5) + "\nCopays are due at each visit."
    document = ParsedDocument(
        title="Plans", page_count=1, sections=[Section(text, 1, "Costs")]
    )

    # when
    chunks = split_into_chunks(document, chunk_size=400, chunk_overlap=50)

    # then
    expected = "Costs by plan:\n\n" + table(5) + "\n\nCopays are due at each visit."
    assert [chunk.text for chunk in chunks] == [expected]


def test_a_long_table_is_cut_between_rows_under_a_repeated_header():
    # given
    document = ParsedDocument(
        title="Plans", page_count=1, sections=[Section(table(40), 1, "Costs")]
    )

    # when
    chunks = split_into_chunks(document, chunk_size=300, chunk_overlap=50)

    # then
    assert len(chunks) > 2
    for chunk in chunks:
        lines = chunk.text.split("\n")
        assert lines[:2] == ["| Plan | Copay | Deductible |", "| --- | --- | --- |"]
        assert all(line.startswith("| Plan ") for line in lines[2:])
        assert len(chunk.text) <= 300
    rows = [line for c in chunks for line in c.text.split("\n")[2:]]
    assert rows == table(40).split("\n")[2:]


def test_rows_rendered_from_docx_repeat_their_first_row():
    # given
    rows = ["Name | Role"] + [f"Person {n} | Engineer {n}" for n in range(30)]
    document = ParsedDocument(
        title="Staff", page_count=1, sections=[Section("\n".join(rows), 1, "")]
    )

    # when
    chunks = split_into_chunks(document, chunk_size=120, chunk_overlap=20)

    # then
    assert all(chunk.text.startswith("Name | Role\n") for chunk in chunks)
    assert sum(chunk.text.count("Person") for chunk in chunks) == 30


def test_one_line_with_a_pipe_is_prose():
    text = "Use the portal | or call us.\nWe answer within a day."
    document = ParsedDocument(
        title="Help", page_count=1, sections=[Section(text, 1, "")]
    )

    chunks = split_into_chunks(document, chunk_size=1000, chunk_overlap=0)

    assert [chunk.text for chunk in chunks] == [text]

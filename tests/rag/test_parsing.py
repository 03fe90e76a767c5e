"""Parsing real awkward files: each gives text or a reason a person can act on."""

import importlib.util
import io
import zipfile

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from rag.parsing import (
    ParsedDocument,
    UnreadableDocument,
    parse_document,
    pdf_sections,
)
from tests.corpus import CORPUS_DIR

CORPUS = CORPUS_DIR
NASTY = CORPUS / "nasty"
NASTY_FILES = sorted(
    path.name
    for path in NASTY.iterdir()
    if path.is_file() and path.name != "LICENSES.md"
)

# pypdf decrypts AES only with `cryptography` (or pycryptodome) installed.
HAS_AES = any(
    importlib.util.find_spec(module) is not None
    for module in ("cryptography", "Crypto")
)
needs_aes = pytest.mark.skipif(not HAS_AES, reason="pypdf needs cryptography for AES")


def parse_nasty(name: str) -> ParsedDocument:
    return parse_document((NASTY / name).read_bytes(), name)


def refusal_reason(content: bytes, filename: str, **options: int) -> str:
    with pytest.raises(UnreadableDocument) as caught:
        parse_document(content, filename, **options)

    return caught.value.reason


def full_text(document: ParsedDocument) -> str:
    return "\n".join(section.text for section in document.sections)


def encrypted_copy(name: str, user_password: str, owner_password: str) -> bytes:
    # RC4 needs no optional crypto package, so these run everywhere.
    writer = PdfWriter(clone_from=PdfReader(NASTY / name))
    writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


@pytest.mark.parametrize("name", NASTY_FILES)
def test_nasty_file_gives_text_or_a_reason(name: str) -> None:
    # given
    content = (NASTY / name).read_bytes()

    # when
    try:
        document = parse_document(content, name)
    except UnreadableDocument as exc:
        # then
        assert exc.reason.strip()
        assert str(exc) == exc.reason
        return

    # then
    assert document.sections
    assert all(section.text.strip() for section in document.sections)
    assert all(
        1 <= section.page <= document.page_count for section in document.sections
    )


@needs_aes
def test_owner_password_only_pdf_parses() -> None:
    document = parse_nasty("r6-owner-password.pdf")

    assert "pdf encryption test" in full_text(document)


@needs_aes
def test_pdf_with_empty_owner_password_parses() -> None:
    # The corpus calls it "user password", but it was made with an empty owner
    # password, and the empty password opens it with full rights.
    document = parse_nasty("r6-user-password.pdf")

    assert "pdf encryption test" in full_text(document)


@pytest.mark.skipif(HAS_AES, reason="only without AES support")
def test_aes_pdf_without_crypto_support_is_refused_with_advice() -> None:
    reason = refusal_reason((NASTY / "r6-owner-password.pdf").read_bytes(), "r6.pdf")

    assert "encrypted PDF" in reason
    assert "unencrypted copy" in reason


def test_control_bytes_in_a_pdf_title_are_cleaned() -> None:
    # given: a title the database would refuse to store
    writer = PdfWriter(clone_from=PdfReader(NASTY / "multilang.pdf"))
    writer.add_metadata({"/Title": "Parking\x00 rules\x07 2024"})
    output = io.BytesIO()
    writer.write(output)

    # when
    document = parse_document(output.getvalue(), "rules.pdf")

    # then
    assert document.title == "Parking rules 2024"


def test_pdf_needing_a_user_password_is_refused() -> None:
    content = encrypted_copy("multilang.pdf", "user-secret", "owner-secret")

    reason = refusal_reason(content, "locked.pdf")

    assert reason == "encrypted PDF needs a password"


def test_pdf_with_only_an_owner_password_parses() -> None:
    content = encrypted_copy("multilang.pdf", "", "owner-secret")

    document = parse_document(content, "restricted.pdf")

    assert "Hello World" in full_text(document)


def test_scanned_pdf_is_refused_as_needing_ocr() -> None:
    reason = refusal_reason((NASTY / "c02-22.pdf").read_bytes(), "c02-22.pdf")

    assert "scanned" in reason
    assert "OCR" in reason


@pytest.mark.parametrize(
    "name", ["invalid.pdf", "bug1020226.pdf", "bug1250079.pdf", "issue6069.pdf"]
)
def test_damaged_pdf_is_refused_as_damaged(name: str) -> None:
    reason = refusal_reason((NASTY / name).read_bytes(), name)

    assert reason.startswith("damaged PDF: could not be read (")


def test_pdf_with_broken_xref_is_recovered() -> None:
    document = parse_nasty("issue-297.pdf")

    assert full_text(document) == "test example"


def test_pdf_with_a_corrupt_stream_keeps_the_readable_text() -> None:
    document = parse_nasty("zen_of_python_corrupted.pdf")

    assert "Beautiful is better than ugly." in full_text(document)


def test_pdf_text_outside_images_is_kept() -> None:
    document = parse_nasty("text-as-image.pdf")

    assert document.page_count == 2
    assert [section.page for section in document.sections] == [2]
    assert "This is a sample pdf with text." in full_text(document)


def test_multilingual_pdf_keeps_every_script() -> None:
    text = full_text(parse_nasty("multilang.pdf"))

    assert "Hello World" in text
    assert "Привет, мир" in text
    assert "你好世界" in text
    assert "こんにちは世界" in text


def test_japanese_cid_font_pdf_yields_text() -> None:
    document = parse_nasty("jo.pdf")

    assert len(full_text(document)) > 100


def test_pdf_pages_are_numbered_from_one() -> None:
    # given
    content = (CORPUS / "contoso" / "PerksPlus.pdf").read_bytes()

    # when
    document = parse_document(content, "PerksPlus.pdf")

    # then
    pages = [section.page for section in document.sections]
    assert document.page_count > 1
    # Headings cut pages into sections, but a section never spans two pages.
    assert pages == sorted(pages)
    assert sorted(set(pages)) == list(range(1, document.page_count + 1))


def test_pdf_is_recognised_without_an_extension() -> None:
    document = parse_document((NASTY / "multilang.pdf").read_bytes(), "upload")

    assert "Hello World" in full_text(document)


def test_empty_file_is_refused() -> None:
    assert refusal_reason(b"", "empty.txt") == "file is empty"


def test_whitespace_only_file_is_refused() -> None:
    content = (NASTY / "fake-text-all-whitespace.txt").read_bytes()

    assert refusal_reason(content, "blank.txt") == "file has no text"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "fake-text-utf-16.txt", "Hamburgers are delicious", id="utf16_bom"
        ),
        pytest.param("fake-text-utf-16-be.txt", "Dogs are the best", id="utf16_be"),
        pytest.param("fake-text-utf-32.txt", "fuzzy blankets", id="utf32_bom"),
        pytest.param("sample-french-1.txt", "MOLIÈRE", id="cp1252_accents"),
        pytest.param("sample-french-1.txt", "œuvres", id="cp1252_only_ligature"),
        pytest.param("umlauts-non-utf8.md", "äöüß", id="latin1_markdown"),
        pytest.param("sample-chinese.txt", "維基大典", id="big5"),
        pytest.param("fake-html-cp1252.html", "El niño comió", id="cp1252_html"),
        pytest.param("fake-html-cp1252.html", "15,50 €", id="cp1252_euro"),
    ],
)
def test_text_is_decoded_without_replacement_characters(
    name: str, expected: str
) -> None:
    text = full_text(parse_nasty(name))

    assert expected in text
    assert "\ufffd" not in text
    assert "\x00" not in text


def test_html_drops_scripts_and_styles_but_keeps_hidden_panels() -> None:
    # when
    document = parse_nasty("aria-tabbed-info-box.html")

    # then
    text = full_text(document)
    assert document.title == "ARIA tabbed info box"
    assert "setTabHandler" not in text
    assert "box-sizing" not in text
    assert "This tab hasn't got any Lorem Ipsum in it." in text
    assert "Aliquam ut porttitor urna." in text


def test_html_headings_label_their_sections() -> None:
    document = parse_nasty("aria-tabbed-info-box.html")

    headings = [section.heading for section in document.sections]

    assert headings == ["", "The first tab", "The second tab", "The third tab"]
    assert document.sections[2].text.startswith("The second tab\n")


def test_html_keeps_block_structure_and_table_rows() -> None:
    # given
    content = (
        b"<html><body><h1>Benefits</h1><p>Intro <b>text</b></p>"
        b"<h2>Dental</h2><table><tr><th>Plan</th><th>Cover</th></tr>"
        b"<tr><td>Basic</td><td>80%</td></tr></table></body></html>"
    )

    # when
    document = parse_document(content, "benefits.html")

    # then
    assert document.title == "Benefits"
    assert [section.heading for section in document.sections] == [
        "Benefits",
        "Benefits > Dental",
    ]
    assert document.sections[0].text == "Benefits\nIntro text"
    assert document.sections[1].text == "Dental\nPlan | Cover\nBasic | 80%"


def test_html_declared_charset_is_honoured() -> None:
    content = (
        b'<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head>'
        b"<body><p>Cr\xe8me br\xfbl\xe9e</p></body></html>"
    )

    document = parse_document(content, "menu.htm")

    assert document.title == "Café"
    assert full_text(document) == "Crème brûlée"


def test_docx_table_rows_stay_on_one_line() -> None:
    # when
    lines = full_text(parse_nasty("docx-tables.docx")).splitlines()

    # then
    assert "Header Col 1 | Header Col 2" in lines
    assert "a | >b< | c" in lines
    assert "d | e | f; g&t | h | i" in lines


def test_docx_merged_cells_are_not_repeated_side_by_side() -> None:
    docx_tables = full_text(parse_nasty("docx-tables.docx")).splitlines()
    cell_access = full_text(parse_nasty("tbl-cell-access.docx")).splitlines()

    assert "a | b" in docx_tables
    assert "a | b | b" not in docx_tables
    assert "4 | 6" in cell_access


def test_docx_paragraphs_and_tables_keep_document_order() -> None:
    text = full_text(parse_nasty("blk-paras-and-tables.docx"))

    assert text.splitlines() == [
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
        "Text before Table; Between Text after",
        "Donec semper facilisis metus finibus malesuada.",
    ]


def test_docx_that_expands_too_far_is_refused_before_unpacking() -> None:
    # given
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("word/document.xml", bytes(2 * 1024 * 1024))

    # when
    reason = refusal_reason(archive.getvalue(), "bomb.docx", max_unpacked_bytes=1024**2)

    # then
    assert reason == "file expands to more than 1 MB when unpacked"


def test_real_docx_is_refused_under_a_tiny_unpack_limit() -> None:
    content = (NASTY / "docx-tables.docx").read_bytes()

    reason = refusal_reason(content, "docx-tables.docx", max_unpacked_bytes=1024)

    assert "unpacked" in reason


def test_corrupt_docx_is_refused_as_damaged() -> None:
    reason = refusal_reason(b"PK\x03\x04 not really a zip", "report.docx")

    assert reason.startswith("damaged DOCX: ")


def test_markdown_headings_build_heading_paths() -> None:
    # given
    content = (
        b"# Benefits\nOverview.\n\n## Dental\nTwo cleanings a year.\n\n"
        b"```bash\n# a comment, not a heading\n```\n\n# Vision ##\nGlasses.\n"
    )

    # when
    document = parse_document(content, "benefits.MD")

    # then
    assert document.title == "Benefits"
    assert [section.heading for section in document.sections] == [
        "Benefits",
        "Benefits > Dental",
        "Vision",
    ]
    assert document.sections[1].text.startswith("## Dental\nTwo cleanings a year.")
    assert "# a comment, not a heading" in document.sections[1].text


def test_markdown_title_falls_back_to_the_file_name() -> None:
    document = parse_document(b"No headings here.", "notes/handbook.md")

    assert document.title == "handbook"
    assert document.sections[0].heading == ""


def test_plain_text_newlines_and_nul_characters_are_cleaned() -> None:
    content = b"first line\r\nsecond line with a stray\x00 NUL\rthird line"

    document = parse_document(content, "C:\\uploads\\memo.txt")

    assert document.title == "memo"
    assert full_text(document) == (
        "first line\nsecond line with a stray NUL\nthird line"
    )


def test_utf16_without_bom_in_cyrillic_is_detected() -> None:
    text = "Сотрудники получают двадцать дней отпуска в году. " * 4

    document = parse_document(text.encode("utf-16-le"), "policy.txt")

    assert full_text(document) == text.strip()


def test_unknown_extension_with_text_is_read_as_text() -> None:
    document = parse_document("Zava schedules: räder".encode(), "notes.log")

    assert full_text(document) == "Zava schedules: räder"


def test_unknown_binary_file_is_refused_with_supported_types() -> None:
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8

    reason = refusal_reason(content, "photo.PNG")

    assert reason == (
        "unsupported file type '.png': upload PDF, DOCX, HTML, Markdown or plain text"
    )


def test_docx_heading_styles_build_heading_paths() -> None:
    # given
    source = docx.Document()
    source.add_heading("Benefits", level=1)
    source.add_paragraph("Everyone is covered.")
    source.add_heading("Dental", level=2)
    row = source.add_table(rows=1, cols=2).rows[0]
    row.cells[0].text, row.cells[1].text = "Cleanings", "Twice a year"
    source.add_heading("Vision", level=1)
    source.add_paragraph("Glasses every two years.")
    output = io.BytesIO()
    source.save(output)

    # when
    document = parse_document(output.getvalue(), "benefits.docx")

    # then
    assert document.title == "Benefits"
    assert [(section.heading, section.text) for section in document.sections] == [
        ("Benefits", "Benefits\nEveryone is covered."),
        ("Benefits > Dental", "Dental\nCleanings | Twice a year"),
        ("Vision", "Vision\nGlasses every two years."),
    ]


def test_real_markdown_file_gives_heading_paths() -> None:
    content = (CORPUS / "contoso" / "Zava_Company_Overview.md").read_bytes()

    document = parse_document(content, "Zava_Company_Overview.md")

    headings = [section.heading for section in document.sections]
    assert document.title == "Zava"
    assert headings[0] == "Zava"
    assert "Zava > Company Overview > Core Values" in headings


def test_binary_file_with_unknown_extension_is_refused():
    with pytest.raises(UnreadableDocument) as refused:
        parse_document(b"\x00\x01\x02binary\x03\x04", "blob.bin")

    assert "unsupported file type '.bin'" in refused.value.reason


def test_text_file_with_unknown_extension_is_read():
    document = parse_document("naïve café notes".encode("cp1252"), "notes.log")

    assert document.sections[0].text == "naïve café notes"


def test_pdf_named_as_text_is_read_as_pdf():
    content = (CORPUS / "contoso" / "PerksPlus.pdf").read_bytes()

    document = parse_document(content, "perks.txt")

    assert document.page_count > 1
    assert "PerksPlus" in document.sections[0].text


def test_markdown_that_starts_like_a_pdf_header_stays_markdown():
    document = parse_document(
        b"%PDF-1.7 is the version we target.\n\n# Plan\nShip it.", "notes.md"
    )

    assert "version we target" in document.sections[0].text


def test_pdf_subsections_nest_under_the_topic_a_breadcrumb_confirms() -> None:
    # given: a topic heading repeated by a breadcrumb line, then subsections
    page = "\n".join(
        [
            "COVERED SERVICES",
            "Rehabilitation Therapy",
            "COVERED SERVICES: Rehabilitation Therapy",
            "The plan covers physical and speech therapy.",
            "Exceptions",
            "Therapy for sports performance is not covered.",
            "Tips",
            "Ask your doctor for a referral.",
            "Surgery",
            "Surgery",
            "Surgery is covered when medically necessary.",
        ]
    )

    # when
    headings = [section.heading for section in pdf_sections([page])]

    # then
    assert headings == [
        "COVERED SERVICES",
        "COVERED SERVICES > Rehabilitation Therapy",
        "COVERED SERVICES > Rehabilitation Therapy > Exceptions",
        "COVERED SERVICES > Rehabilitation Therapy > Tips",
        "COVERED SERVICES > Surgery",
    ]


def test_pdf_heading_followed_by_a_sentence_is_no_topic() -> None:
    page = "\n".join(
        [
            "SUMMARY OF YOUR COSTS",
            "Premiums",
            "Premiums are the amount you pay each month.",
            "Deductibles",
            "A deductible is what you pay before the plan pays.",
        ]
    )

    headings = [section.heading for section in pdf_sections([page])]

    assert headings == [
        "SUMMARY OF YOUR COSTS",
        "SUMMARY OF YOUR COSTS > Premiums",
        "SUMMARY OF YOUR COSTS > Deductibles",
    ]

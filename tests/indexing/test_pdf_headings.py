"""PDF headings recovered from fonts: real PDFs written by fpdf2, read back by the indexer's converter."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexing.chunking import chunk_document
from indexing.documents import load_file
from indexing.pdf_headings import Line, heading_levels, marked_text

fpdf = pytest.importorskip("fpdf")

BODY = (
    "Gross burn is everything the company spends in a month, salaries and rent included, and net burn "
    "is gross burn minus the revenue collected in that month."
)


def _pdf(path: Path, blocks: list[tuple[str, str, int]], width: float = 0) -> Path:
    """blocks: (text, font style "" or "B", size in points), each set as its own paragraph."""
    pdf = fpdf.FPDF(format="A4")
    pdf.add_page()
    for text, style, size in blocks:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, size * 0.55, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    path.write_bytes(bytes(pdf.output()))
    return path


def _load(path: Path):
    return load_file(path, path.name)


def test_larger_lines_become_headings_and_chunks_are_filed_under_them(tmp_path):
    path = _pdf(
        tmp_path / "runway.pdf",
        [
            ("Runway and Burn Rate", "B", 18),
            ("How our incubator asks teams to plan their runway.", "", 11),
            ("Calculating Burn Rate", "B", 13),
            (BODY, "", 11),
            ("The Runway Formula", "B", 13),
            ("Runway in months is cash in the bank divided by monthly net burn.", "", 11),
        ],
    )
    doc = _load(path)
    assert doc.title == "Runway and Burn Rate"
    lines = doc.text.splitlines()
    assert "# Runway and Burn Rate" in lines
    assert "## Calculating Burn Rate" in lines and "## The Runway Formula" in lines
    sections = [c.section for c in chunk_document(doc, 500, 50)]
    # The lone level-1 heading is the title: it names the text under it and is left out of the others.
    assert sections == ["Runway and Burn Rate", "Calculating Burn Rate", "The Runway Formula"]


def test_bold_lines_at_body_size_are_headings_below_the_sized_ones(tmp_path):
    path = _pdf(
        tmp_path / "privacy.pdf",
        [
            ("Data Privacy Basics", "B", 16),
            ("Personal Data Inventory", "B", 11),
            (BODY, "", 11),
            ("Consent and Lawful Basis", "B", 11),
            (BODY, "", 11),
        ],
    )
    lines = _load(path).text.splitlines()
    assert "# Data Privacy Basics" in lines
    assert "## Personal Data Inventory" in lines and "## Consent and Lawful Basis" in lines


def test_a_pdf_in_one_font_keeps_its_text_as_extracted(tmp_path):
    path = _pdf(tmp_path / "plain.pdf", [("A short first line", "", 11), (BODY, "", 11)])
    text = _load(path).text
    assert "#" not in text
    assert text.startswith("A short first line\n")


def test_large_sentences_and_long_lines_are_not_headings(tmp_path):
    path = _pdf(
        tmp_path / "quote.pdf",
        [
            ("Cash is oxygen.", "", 14),  # a pull quote: a sentence, not a title
            (BODY, "", 11),
            (BODY + " " + BODY, "", 14),  # wrapped large paragraph: lines too long for a heading
            (BODY, "", 11),
        ],
    )
    assert "#" not in _load(path).text


def test_a_heading_wrapped_onto_two_lines_is_one_heading(tmp_path):
    heading = "When to Start Raising the Next Round of Funding"
    path = _pdf(tmp_path / "wrap.pdf", [(heading, "B", 13), (BODY, "", 11)], width=60)
    headings = [line for line in _load(path).text.splitlines() if line.startswith("#")]
    assert headings == [f"# {heading}"]


def test_levels_follow_size_and_bold_body_text_makes_no_headings():
    body = [Line("ordinary body text of the document " * 3, 10.0, False)] * 5
    pages = [[Line("Title", 20.0, True), Line("Part", 14.0, True), Line("Sub", 12.0, False), *body]]
    levels = heading_levels(pages)
    assert [levels[20.0], levels[14.0], levels[12.0]] == [1, 2, 3]
    bold_body = [Line("bold body text everywhere " * 3, 10.0, True)] * 5
    short_bold = Line("Looks like a heading", 10.0, True)
    levels = heading_levels([[short_bold, *bold_body]])
    assert marked_text([short_bold], levels, 10.0) == "Looks like a heading"

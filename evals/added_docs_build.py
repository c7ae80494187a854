"""Build the PDF and DOCX files of the added-documents set from their Markdown sources.

    python -m evals.added_docs_build      # (re)write evals/datasets/added_docs/*.pdf|*.docx
    python -m evals.added_docs_build --renderings   # their English renderings, by the configured model

An incubator's own material arrives as PDF and Word files, so the set must contain real ones, which the
indexer reads with its own converters (pypdf, python-docx). Their text lives in
`evals/datasets/added_docs_sources/<name>.<pdf|docx>.md` (`# title`, `## heading`, paragraphs), where a
diff can be read; this script renders them. The output is deterministic for given library versions (fixed
dates and document ids); tests/evals/test_added_docs.py checks that the committed files hold the text of
their sources as the indexer reads it.

PDFs use the core Helvetica font, which has no Han characters: PDF sources must be English (a CJK PDF
would need a font file that is not part of the repository).
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from evals.datasets import ADDED_DOCS_DIR, DATASET_DIR

SOURCES_DIR = DATASET_DIR / "added_docs_sources"
BUILT_SUFFIXES = (".pdf", ".docx")
# Every generated file claims this moment, so that building twice gives the same bytes.
FIXED_TIME = datetime(2026, 1, 1, tzinfo=UTC)
AUTHOR = "Founder Advisor incubator (evaluation set)"


@dataclass(frozen=True)
class Block:
    kind: str  # title | heading | paragraph
    text: str


def parse_source(text: str) -> list[Block]:
    """`# title`, `## heading` and blank-line-separated paragraphs; anything else is a clear error."""
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", " ".join(paragraph)))
            paragraph.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("### "):
            raise ValueError(f"only '#' and '##' headings are supported: {stripped!r}")
        if stripped.startswith(("# ", "## ")):
            flush()
            kind = "title" if stripped.startswith("# ") else "heading"
            blocks.append(Block(kind, stripped.lstrip("#").strip()))
        elif stripped:
            paragraph.append(stripped)
        else:
            flush()
    flush()
    if not blocks or blocks[0].kind != "title" or sum(b.kind == "title" for b in blocks) != 1:
        raise ValueError("a source starts with exactly one '# title' line")
    return blocks


# --- PDF ----------------------------------------------------------------------------------------


def render_pdf(blocks: list[Block]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_TIME)
    pdf.set_author(AUTHOR)
    pdf.set_title(blocks[0].text)
    # fpdf2 hashes the content and the creation date into the trailer /ID: fixed date, fixed id.
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    sizes = {"title": 18, "heading": 13, "paragraph": 11}
    for block in blocks:
        try:
            block.text.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise ValueError(f"PDF sources must be Latin-1 text (core font): {block.text[:40]!r}") from exc
        bold = "B" if block.kind != "paragraph" else ""
        pdf.set_font("Helvetica", bold, sizes[block.kind])
        if block.kind != "title":
            pdf.ln(3)
        pdf.multi_cell(0, sizes[block.kind] * 0.55, block.text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())


# --- DOCX ---------------------------------------------------------------------------------------


def render_docx(blocks: list[Block]) -> bytes:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.author = props.last_modified_by = AUTHOR
    props.title = blocks[0].text
    props.created = props.modified = FIXED_TIME.replace(tzinfo=None)
    props.revision = 1
    for block in blocks:
        if block.kind == "title":
            document.add_heading(block.text, level=0)  # the "Title" style: the indexer's level 1
        elif block.kind == "heading":
            document.add_heading(block.text, level=1)
        else:
            document.add_paragraph(block.text)
    buffer = io.BytesIO()
    document.save(buffer)
    return _with_fixed_zip_times(buffer.getvalue())


def _with_fixed_zip_times(raw: bytes) -> bytes:
    """The same zip with every member dated FIXED_TIME (python-docx stamps them with the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


# --- the command --------------------------------------------------------------------------------

RENDERERS = {".pdf": render_pdf, ".docx": render_docx}


def built_files(sources: Path = SOURCES_DIR) -> dict[str, bytes]:
    """Output file name -> bytes, for every `<name>.<pdf|docx>.md` source."""
    out: dict[str, bytes] = {}
    for source in sorted(sources.glob("*.md")):
        target = Path(source.stem)  # "runway_planning.pdf"
        if target.suffix not in RENDERERS:
            raise ValueError(f"{source.name}: a source is named <name>.pdf.md or <name>.docx.md")
        try:
            out[target.name] = RENDERERS[target.suffix](parse_source(source.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise ValueError(f"{source.name}: {exc}") from exc
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.added_docs_build",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument(
        "--renderings",
        nargs="*",
        choices=("en", "zh"),
        metavar="LANG",
        help="instead: render the documents' lines and headings into LANG (en, zh; default both) with the "
        "configured model (minutes) into evals/datasets/added_docs_renderings.LANG.json, which the index views "
        "search; lines rendered before are kept",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        help="with --renderings: stop each language after this long and keep what was made (a subset)",
    )
    args = parser.parse_args(argv)
    if args.renderings is not None:
        return _write_renderings(args.renderings or ["en", "zh"], args.minutes)
    for name, data in built_files().items():
        path = ADDED_DOCS_DIR / name
        path.write_bytes(data)
        print(f"wrote {path.relative_to(DATASET_DIR.parent.parent)} ({len(data):,} bytes)")
    return 0


def _write_renderings(languages: list[str], minutes: float | None) -> int:
    import tempfile

    from advisor import get_settings
    from evals.added_docs import ADDED_DOCS_RENDERINGS, render_added_documents

    out = {language: ADDED_DOCS_RENDERINGS[language] for language in languages}
    with tempfile.TemporaryDirectory(prefix="fa-added-renderings-") as tmp:
        written = render_added_documents(get_settings(), Path(tmp), out, minutes=minutes)
    for language, n in written.items():
        path = ADDED_DOCS_RENDERINGS[language].relative_to(DATASET_DIR.parent.parent)
        print(f"wrote {n} renderings to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

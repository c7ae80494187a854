"""Loading: every file is either a document or reported with a reason; encodings decode to the right text."""

from __future__ import annotations

import os

import pytest

from bench.fault_injection import minimal_pdf
from indexing.documents import decode_bytes, load_documents

ZH = "定价策略是指公司如何为AI大模型产品或服务设定价格，以实现利润最大化。基础版每月1000元。"


# 𠀀 (U+20000, Extension B) and 㐀 (U+3400, Extension A): four-byte GB18030 sequences, outside GBK.
ZH_BEYOND_GBK = ZH + "𠀀㐀"


@pytest.mark.parametrize(
    ("original", "encoded", "expected_encoding"),
    [
        (ZH, ZH.encode("utf-8"), "utf-8"),
        (ZH, b"\xef\xbb\xbf" + ZH.encode("utf-8"), "utf-8-bom"),
        (ZH, ZH.encode("gbk"), "gb18030"),
        (ZH_BEYOND_GBK, ZH_BEYOND_GBK.encode("gb18030"), "gb18030"),
        (ZH, ZH.encode("utf-16"), "utf-16-le"),  # with BOM
        (ZH, b"\xfe\xff" + ZH.encode("utf-16-be"), "utf-16-be"),
        ("Pricing notes: " + ZH, ("Pricing notes: " + ZH).encode("utf-16-le"), "utf-16-le"),  # no BOM
        ("Pricing notes: " + ZH, ("Pricing notes: " + ZH).encode("utf-16-be"), "utf-16-be"),
    ],
    ids=["utf8", "utf8-bom", "gbk", "gb18030-4-byte", "utf16-bom", "utf16be-bom", "utf16le", "utf16be"],
)
def test_decodes_to_the_right_text(original, encoded, expected_encoding):
    """Exactly the text that was encoded: no character dropped, replaced or added (a BOM included)."""
    text, encoding = decode_bytes(encoded)
    assert text == original
    assert encoding == expected_encoding


def test_big5_is_detected():
    traditional = "定價策略是指公司如何為產品或服務設定價格，以實現利潤最大化。專業版每月五千元。"
    text, encoding = decode_bytes(traditional.encode("big5"))
    assert text == traditional and encoding == "big5"


def test_files_in_every_encoding_load_with_identical_text(knowledge):
    body = f"# 定价\n\n{ZH}\n"
    for name, data in {
        "utf8.md": body.encode("utf-8"),
        "gbk.txt": body.replace("定价\n", "定价 GBK\n").encode("gbk"),
        "gb18030.md": body.replace("定价\n", "定价 GB18030\n").encode("gb18030"),
        "utf16.md": body.replace("定价\n", "定价 UTF16\n").encode("utf-16"),
        "bom.md": b"\xef\xbb\xbf" + body.replace("定价\n", "定价 BOM\n").encode("utf-8"),
        "crlf.md": body.replace("定价\n", "定价 CRLF\n").replace("\n", "\r\n").encode("utf-8"),
    }.items():
        (knowledge / name).write_bytes(data)
    result = load_documents([knowledge], max_file_mb=1)
    assert not result.skipped
    assert len(result.documents) == 6
    for doc in result.documents:
        assert doc.text.endswith(f"\n\n{ZH}\n"), doc.source
        assert "\r" not in doc.text and doc.lang == "zh"


def test_bad_files_are_reported_and_do_not_stop_the_others(knowledge):
    (knowledge / "good.md").write_text("# Good\n\nPricing is value based.\n", encoding="utf-8")
    (knowledge / "empty.md").write_bytes(b"")
    (knowledge / "blank.txt").write_text("  \n\n\t\n", encoding="utf-8")
    (knowledge / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(256))
    (knowledge / "big.md").write_text("x" * 300_000, encoding="utf-8")
    (knowledge / "photo.png").write_bytes(b"\x89PNG\r\n")
    (knowledge / "bad-bom.md").write_bytes(b"\xef\xbb\xbf\xff\xfe broken")
    (knowledge / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (knowledge / "broken.docx").write_bytes(b"PK\x03\x04 not a zip at all")
    (knowledge / "only-front-matter.md").write_text("---\ntitle: x\n---\n\n", encoding="utf-8")
    (knowledge / ".hidden.md").write_text("# hidden\n\nnot knowledge\n", encoding="utf-8")
    result = load_documents([knowledge], max_file_mb=0.1)
    assert [d.source for d in result.documents] == ["good.md"]
    reasons = {s.source: s.reason for s in result.skipped}
    assert reasons == {
        ".hidden.md": "hidden",  # reported, not dropped silently
        "bad-bom.md": "undecodable",
        "big.md": "too_large",
        "blank.txt": "empty",
        "broken.docx": "unreadable",
        "broken.pdf": "unreadable",
        "empty.md": "empty",
        "image.md": "binary",
        "only-front-matter.md": "empty",
        "photo.png": "unsupported",
    }
    assert all(s.detail for s in result.skipped)


def test_duplicate_content_is_loaded_once(knowledge):
    (knowledge / "a.md").write_text("# A\n\nsame text\n", encoding="utf-8")
    (knowledge / "sub").mkdir()
    (knowledge / "sub" / "copy.md").write_bytes(
        "# A\n\nsame text\n".encode("utf-16")
    )  # same text, other bytes
    result = load_documents([knowledge], max_file_mb=1)
    assert [d.source for d in result.documents] == ["a.md"]
    assert [(s.source, s.reason) for s in result.skipped] == [("sub/copy.md", "duplicate")]
    assert "a.md" in result.skipped[0].detail


def test_symlink_outside_the_corpus_is_refused(knowledge, tmp_path):
    secret = tmp_path / "elsewhere.md"
    secret.write_text("# private\n\nnot for the index\n", encoding="utf-8")
    (knowledge / "link.md").symlink_to(secret)
    (knowledge / "inside.md").write_text("# in\n\ninside text\n", encoding="utf-8")
    (knowledge / "alias.md").symlink_to(knowledge / "inside.md")
    result = load_documents([knowledge], max_file_mb=1)
    reasons = {s.source: s.reason for s in result.skipped}
    assert reasons["link.md"] == "outside_corpus"
    # A link inside the folder is fine, and deduplicated: alias.md sorts first, so inside.md is the copy.
    assert reasons["inside.md"] == "duplicate"
    assert [d.source for d in result.documents] == ["alias.md"]


def test_front_matter_and_language(knowledge):
    (knowledge / "fm.md").write_text(
        "---\ntitle: Pricing notes\nlang: en\nsource: https://example.org/notes\n---\n\n# Heading\n\ntext\n",
        encoding="utf-8",
    )
    (knowledge / "plain.md").write_text("# 创业团队\n\n团队建设的方法包括明确目标。\n", encoding="utf-8")
    docs = {d.source: d for d in load_documents([knowledge], max_file_mb=1).documents}
    fm = docs["fm.md"]
    assert (fm.title, fm.lang, fm.origin) == ("Pricing notes", "en", "https://example.org/notes")
    assert fm.text[fm.body_start :].startswith("\n# Heading") or fm.text[fm.body_start :].startswith(
        "# Heading"
    )
    assert (docs["plain.md"].title, docs["plain.md"].lang) == ("创业团队", "zh")


def test_html_headings_become_sections(knowledge):
    html = (
        "<html><head><title>Guide</title><style>p{}</style></head><body><h1>Guide</h1>"
        "<h2>Pricing</h2><p>Charge for value.</p><script>alert(1)</script>"
        "<h2>Team</h2><ul><li>Hire slowly</li><li>Fire fast</li></ul></body></html>"
    )
    (knowledge / "guide.html").write_bytes(html.encode("gbk"))
    from indexing.chunking import chunk_document

    doc = load_documents([knowledge], max_file_mb=1).documents[0]
    assert doc.format == "html" and doc.title == "Guide"
    assert "alert" not in doc.text and "p{}" not in doc.text
    sections = {c.section: c.text for c in chunk_document(doc, 500, 0)}
    assert sections["Pricing"] == "Charge for value."
    assert "Hire slowly" in sections["Team"]


def test_docx_headings_become_sections(knowledge):
    import docx

    document = docx.Document()
    document.add_heading("Founder notes", level=0)
    document.add_heading("5.3 Pricing", level=1)
    document.add_paragraph("基础版每月1000元。")
    path = knowledge / "notes.docx"
    document.save(str(path))
    from indexing.chunking import chunk_document

    doc = load_documents([knowledge], max_file_mb=1).documents[0]
    assert doc.format == "docx" and doc.title == "Founder notes"
    assert [(c.section, c.text) for c in chunk_document(doc, 500, 0)] == [
        ("5.3 Pricing", "基础版每月1000元。")
    ]


def test_pdf_text_is_loaded(knowledge):
    (knowledge / "deck.pdf").write_bytes(minimal_pdf("Value based pricing for founders"))
    (knowledge / "scan.pdf").write_bytes(minimal_pdf(""))
    result = load_documents([knowledge], max_file_mb=1)
    assert [d.source for d in result.documents] == ["deck.pdf"]
    assert "Value based pricing for founders" in result.documents[0].text
    assert [(s.source, s.reason) for s in result.skipped] == [("scan.pdf", "empty")]

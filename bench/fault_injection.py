"""The fault and bad-input generators of issue 8, shared by the tests and ``python -m bench faults``.

Four experiments, each a function that runs it and returns plain records; the callers decide the rules
(the tests assert them, the bench prints them and sets its exit status), so both judge the same runs:

* make_bad_corpus   -- 48 hostile or broken files (encodings, PDFs, DOCX bombs, links, names ...)
* run_kills         -- kill ``python -m indexing build`` at random times while it saves the index
* corrupt_index_file -- truncate / bit-flip one index file and load (with and without ``index.prev``)
* bad_models + app_env -- model files that cannot load, and an environment whose index is good
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from config import PROJECT_ROOT, settings_for_tests
from indexing import IndexLoadError, VectorIndex, build_index, load_index
from indexing.embedders import HashEmbedder
from indexing.manifest import CHUNKS_FILE, FAISS_FILE, MANIFEST_FILE, REBUILD_HINT
from indexing.store import PREV_SUFFIX
from indexing.types import Chunk

MB = 2**20

# =======================================================================================================
# Bad input
# =======================================================================================================
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


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica (offsets in the xref table computed, so pypdf accepts it)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


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

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf(text))))
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
    put("valid.pdf", minimal_pdf("Valid PDF: investor updates go out monthly"), "new")
    put("truncated.pdf", minimal_pdf("This PDF was cut off in transfer")[:300], "unreadable")
    put("encrypted.pdf", _encrypted_pdf("Secret board minutes", "user-pass"), "encrypted")
    put("owner-locked.pdf", _encrypted_pdf("Open to read: hiring plan for Q3", ""), "new")
    put("scanned.pdf", minimal_pdf(""), "empty")
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


def every_entry(folder: Path) -> set[str]:
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


def saved_index_counts(index_dir: Path) -> tuple[int, int, int]:
    """(vectors, chunk lines, manifest count), read from the files on disk (not from the build's report)."""
    import faiss

    vectors = faiss.read_index(str(index_dir / FAISS_FILE)).ntotal
    with (index_dir / CHUNKS_FILE).open(encoding="utf-8") as fh:
        chunks = sum(1 for _ in fh)
    count = json.loads((index_dir / MANIFEST_FILE).read_text(encoding="utf-8"))["count"]
    return vectors, chunks, count


# =======================================================================================================
# Killing the build while it saves
# =======================================================================================================
SAVING_MARKER = "saving "  # printed by build_index right before index.save()
WORDS = ["pricing", "team", "market", "risk", "founder", "revenue", "customer", "product", "growth", "hiring"]


@dataclass(frozen=True)
class Snapshot:
    """What identifies one complete index: its chunks in order, its vectors and its sources."""

    chunk_ids: tuple[str, ...]
    vectors_digest: int
    sources: tuple[tuple[str, str, int], ...]  # (source, doc_id, chunk count) from the manifest

    @classmethod
    def of(cls, index: VectorIndex) -> Snapshot:
        sources = index.manifest.get("sources", {})
        return cls(
            chunk_ids=tuple(c.chunk_id for c in index.chunks),
            vectors_digest=hash(index.vectors().tobytes()),
            sources=tuple(sorted((s, i["doc_id"], i["chunks"]) for s, i in sources.items())),
        )


def write_corpus(folder: Path, docs: int, sections: int, seed: int) -> None:
    """``docs`` Markdown files of ``sections`` sections of 70 random words each."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(docs):
        body = "".join(
            f"\n## {d}.{s} Section\n\n" + " ".join(rng.choice(WORDS) for _ in range(70)) + ".\n"
            for s in range(sections)
        )
        (folder / f"doc{d:03d}.md").write_text(f"# Document {d}\n{body}", encoding="utf-8")


def build_command(data_dir: Path, knowledge: Path) -> tuple[list[str], dict[str, str]]:
    """`python -m indexing build` on the test profile (hash embedder), pointed at these folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FA_")}
    env.update(FA_PROFILE="test", FA_DATA_DIR=str(data_dir), FA_KNOWLEDGE_DIR=str(knowledge))
    return [sys.executable, "-m", "indexing", "build"], env


def start_build(data_dir: Path, knowledge: Path) -> tuple[subprocess.Popen, float]:
    """Start `python -m indexing build`; return it once it has announced the save (and when it did)."""
    command, env = build_command(data_dir, knowledge)
    proc = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(SAVING_MARKER):
            return proc, time.perf_counter()
    proc.wait()
    raise RuntimeError(f"the build ended (exit {proc.returncode}) without saving")


def finish_build(proc: subprocess.Popen) -> None:
    """Let a started build run to the end; a non-zero exit is an error with its stderr."""
    assert proc.stderr is not None
    rest = proc.stderr.read()
    if proc.wait(timeout=120) != 0:
        raise RuntimeError(f"the build failed (exit {proc.returncode}): {rest[-2000:]}")


def load_hash_index(data_dir: Path) -> VectorIndex:
    return load_index(data_dir / "index", embedder=HashEmbedder(384))


@dataclass(frozen=True)
class Kill:
    """Where one SIGKILL landed and what the app found afterwards."""

    step: str  # read from what the kill left on disk
    outcome: str  # old (the index before this build) | new (the one it was saving) | mixed | crash
    fell_back: bool  # load_index used index.prev
    advisor_same: bool  # the app's advisor started on that same index and retrieved passages
    detail: str = ""


@dataclass
class KillRun:
    save_window_s: float  # "saving" announced -> build process gone, in an unkilled build
    old_chunks: int
    new_chunks: int
    kills: list[Kill] = field(default_factory=list)
    final_build_ok: bool = False  # the next build after all the kills matches the folder, no temp left


def _killed_step(data_dir: Path, after: Snapshot | None, target: Snapshot) -> str:
    if list(data_dir.glob(".index.tmp-*")):
        return "writing/verifying the temp folder"
    if not (data_dir / "index").exists():
        return "between the two renames"
    return "after the swap" if after == target else "before the temp folder was made"


def _app_starts_on(data_dir: Path, knowledge: Path, snapshot: Snapshot) -> bool:
    from advisor import build_advisor
    from advisor.generate import ScriptedGenerator

    settings = settings_for_tests(data_dir=data_dir, knowledge_dir=knowledge)
    advisor = build_advisor(settings, generator=ScriptedGenerator(["ok"]))
    return Snapshot.of(advisor.index) == snapshot and bool(advisor.retrieve("pricing and hiring", k=3))


def run_kills(
    workdir: Path, kills: int, *, docs: int = 40, sections: int = 50, seed: int | None = None
) -> KillRun:
    """Build an old and a new index, then kill ``kills`` builds at random times within the save window.

    Each build flips between the two (adding or removing one extra document), so every kill must leave
    either the index it started from (old) or the one it was saving (new) -- never a mix, never a crash.
    The default ~3,300 chunks make the save (5 MB written, fsynced, checksummed, re-read, swapped) take a
    ~0.2 s, long enough for kills at real random times to land in its different steps.
    """
    data_dir, knowledge = workdir / "data", workdir / "knowledge"
    write_corpus(knowledge, docs=docs, sections=sections, seed=1)
    extra = "# Extra\n\n## 9.1 Burn rate\n\nA new document: burn rate and runway.\n" * 20

    finish_build(start_build(data_dir, knowledge)[0])
    old = Snapshot.of(load_hash_index(data_dir))
    (knowledge / "extra.md").write_text(extra, encoding="utf-8")
    proc, saving_at = start_build(data_dir, knowledge)
    finish_build(proc)
    run = KillRun(time.perf_counter() - saving_at, len(old.chunk_ids), 0)
    new = Snapshot.of(load_hash_index(data_dir))
    run.new_chunks = len(new.chunk_ids)
    if old == new:
        raise RuntimeError("adding a document did not change the index: the kill experiment means nothing")

    rng = random.Random(seed)
    for _ in range(kills):
        before = Snapshot.of(load_hash_index(data_dir))
        target = old if before == new else new
        if target == new:
            (knowledge / "extra.md").write_text(extra, encoding="utf-8")
        else:
            (knowledge / "extra.md").unlink(missing_ok=True)
        proc, _ = start_build(data_dir, knowledge)
        time.sleep(rng.uniform(0, run.save_window_s))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()
        try:
            loaded = load_hash_index(data_dir)
        except Exception as exc:  # the rule is that this never happens; record it, don't stop the run
            step = _killed_step(data_dir, None, target)
            run.kills.append(Kill(step, "crash", False, False, f"{type(exc).__name__}: {exc}"))
            continue
        after = Snapshot.of(loaded)
        outcome = "new" if after == target else "old" if after == before else "mixed"
        try:
            same = _app_starts_on(data_dir, knowledge, after)
            detail = ""
        except Exception as exc:
            same, detail = False, f"advisor: {type(exc).__name__}: {exc}"
        step = _killed_step(data_dir, after, target)
        run.kills.append(Kill(step, outcome, bool(loaded.fell_back_from), same, detail))

    # The next build after all those kills brings the index in line with the folder and cleans up.
    command, env = build_command(data_dir, knowledge)
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=120)
    expect = new if (knowledge / "extra.md").exists() else old
    run.final_build_ok = (
        done.returncode == 0
        and Snapshot.of(load_hash_index(data_dir)) == expect
        and not list(data_dir.glob(".index.tmp-*"))
    )
    return run


# =======================================================================================================
# Corrupt index files
# =======================================================================================================
INDEX_FILES = (FAISS_FILE, CHUNKS_FILE, MANIFEST_FILE)


def make_index_pair(data_dir: Path) -> tuple[Path, Snapshot, Snapshot]:
    """index/ (new, 6 chunks) over index.prev/ (old, 4 chunks), both written by the real save."""
    embedder = HashEmbedder(384)
    index_dir = data_dir / "index"

    def chunks(n: int) -> list[Chunk]:
        return [
            Chunk(f"c{i}", f"d{i}", f"{WORDS[i]} advice number {i}", f"{i}.1 Topic", f"s{i}.md", "en", 0, 9)
            for i in range(n)
        ]

    VectorIndex.from_chunks(chunks(4), embedder).save(index_dir, {"sources": {}})
    old = Snapshot.of(load_index(index_dir, embedder=embedder))
    VectorIndex.from_chunks(chunks(6), embedder).save(index_dir, {"sources": {}})
    new = Snapshot.of(load_index(index_dir, embedder=embedder))
    return index_dir, old, new


def damages(size: int, rng: random.Random, flips: int = 12) -> list[tuple[str, int]]:
    """Truncations (to nothing, one byte, half, all but the last byte) and single-bit flips anywhere."""
    cuts = [("truncate", n) for n in sorted({0, 1, size // 2, size - 1})]
    return cuts + [("flip", rng.randrange(size * 8)) for _ in range(flips)]


def damage(path: Path, how: str, where: int) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        del data[where:]
    else:
        data[where // 8] ^= 1 << (where % 8)
    path.write_bytes(bytes(data))


@dataclass(frozen=True)
class Corruption:
    """One damaged file, loaded with index.prev present and (when it fell back) without it."""

    file: str
    how: str  # truncate | flip
    where: int  # byte (truncate) or bit (flip)
    outcome: str  # harmless (new index, unchanged values) | fallback | wrong answer | crash
    without_prev: str  # clear error | unclear error | wrong answer | crash | "" (not tried: harmless)
    detail: str = ""

    @property
    def case(self) -> str:
        return f"{self.file} {self.how} at {'byte' if self.how == 'truncate' else 'bit'} {self.where}"


def _load_without_prev(index_dir: Path, prev_dir: Path, aside: Path) -> tuple[str, str]:
    prev_dir.rename(aside)
    try:
        load_index(index_dir, embedder=HashEmbedder(384))
        return "wrong answer", "the damaged index loaded"
    except IndexLoadError as exc:
        return ("clear error" if "--rebuild" in str(exc) else "unclear error"), str(exc)
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"
    finally:
        aside.rename(prev_dir)


def corrupt_index_file(workdir: Path, name: str, *, flips: int = 12) -> list[Corruption]:
    """Damage ``name`` of a fresh index pair in every way of damages() and classify each load."""
    index_dir, old, new = make_index_pair(workdir / "data")
    pristine = (index_dir / name).read_bytes()
    prev_dir = index_dir.with_name(index_dir.name + PREV_SUFFIX)
    results = []
    for how, where in damages(len(pristine), random.Random(name), flips):
        (index_dir / name).write_bytes(pristine)
        damage(index_dir / name, how, where)
        try:
            loaded = load_index(index_dir, embedder=HashEmbedder(384))  # index.prev is good: never an error
        except Exception as exc:
            results.append(Corruption(name, how, where, "crash", "", f"{type(exc).__name__}: {exc}"))
            continue
        got = Snapshot.of(loaded)
        if got == new and loaded.fell_back_from is None and name == MANIFEST_FILE:
            # Only harmless damage loads: a flip in the manifest's JSON layout (indentation, say) that
            # leaves every value, and so its checksum, intact.
            results.append(Corruption(name, how, where, "harmless", ""))
        elif got == old and REBUILD_HINT in (loaded.fell_back_from or ""):
            # Without a previous index the same damage must be a clear error naming the fix.
            verdict, detail = _load_without_prev(index_dir, prev_dir, workdir / "aside")
            results.append(Corruption(name, how, where, "fallback", verdict, detail))
        else:
            results.append(Corruption(name, how, where, "wrong answer", "", "loaded a damaged index"))
    return results


# =======================================================================================================
# A model that fails to load
# =======================================================================================================
# What the one error line must say for each kind of bad model file.
MODEL_FAILURE_REASONS = {
    "missing": "not found",
    "garbage": "not a GGUF model file",
    "truncated": "truncated or corrupt",
}


def bad_models(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    garbage = folder / "garbage.gguf"
    garbage.write_bytes(random.Random(0).randbytes(4096))
    # A real GGUF header (magic, version 3, 291 tensors, 26 metadata pairs) cut off right after it.
    truncated = folder / "truncated.gguf"
    truncated.write_bytes(
        b"GGUF" + (3).to_bytes(4, "little") + (291).to_bytes(8, "little") + (26).to_bytes(8, "little")
    )
    return {"missing": folder / "no-such-model.gguf", "garbage": garbage, "truncated": truncated}


def app_env(workdir: Path, **extra: str) -> dict[str, str]:
    """Environment for a child `python -m advisor` / `app.py` on a good tiny index, so only the model fails."""
    knowledge = workdir / "knowledge"
    knowledge.mkdir(parents=True, exist_ok=True)
    (knowledge / "pricing.md").write_text("# Notes\n\n## 1 Pricing\n\nCharge for value.\n", encoding="utf-8")
    build_index(settings_for_tests(data_dir=workdir / "data", knowledge_dir=knowledge), progress=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FA_")}
    env.update(FA_PROFILE="test", FA_DATA_DIR=str(workdir / "data"), FA_KNOWLEDGE_DIR=str(knowledge), **extra)
    return env


ASK_COMMAND = [sys.executable, "-m", "advisor", "ask", "How should I price?"]
APP_COMMAND = [sys.executable, "app.py"]  # must exit, not serve a model-less app


def error_lines(stderr: str) -> list[str]:
    """The lines a CLI prints for a user-facing failure (the contract: exactly one, and no traceback)."""
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def unclear_failure(returncode: int | None, stderr: str, *needles: str) -> str | None:
    """Why a failed start is not "exit 2 and one clear error line saying ``needles``" (None: it is)."""
    errors = error_lines(stderr)
    if returncode != 2:
        return f"exit {'(hung)' if returncode is None else returncode}, not 2: {stderr[-2000:]}"
    if "Traceback" in stderr:
        return f"a traceback: {stderr[-2000:]}"
    if len(errors) != 1:
        return f"{len(errors)} error lines, not 1: {stderr[-2000:]}"
    missing = [n for n in needles if n not in errors[0]]
    return f"the error line does not say {missing}: {errors[0]}" if missing else None

"""Load knowledge files (Markdown, text, HTML, PDF, DOCX) into decoded documents, or say why not.

Every file found ends in exactly one of two lists: ``documents`` or ``skipped`` (with a reason). A bad
file never stops the others, and nothing is dropped silently: hidden files, symlinked folders and special
files (FIFOs, sockets) are reported too. Size limits guard every stage: bytes on disk (``max_file_mb``),
bytes a DOCX unpacks to (``max_unpacked_mb``, against zip bombs) and characters of text (``max_file_chars``,
which also caps PDF extraction). HTML, PDF and DOCX are converted to Markdown-style text (headings become
``#`` lines; a PDF's are told by their font, pdf_headings.py) so that one chunker handles every format;
their character offsets point into that text.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from charset_normalizer import from_bytes

from indexing.pdf_headings import Line, body_size, heading_levels, marked_text, page_lines
from textkit import detect_language

MARKDOWN_SUFFIXES = {".md", ".markdown", ".txt", ".text"}  # plain text is read as Markdown: a superset
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}
# The knowledge folder's own README explains how to add documents; it is not founder knowledge.
FOLDER_README = "README.md"

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A decoded knowledge file. Chunk offsets index into ``text`` (which includes any front-matter)."""

    doc_id: str  # content hash of ``text``: the same content under two names is one document
    source: str  # path relative to the corpus root (POSIX separators), or the file name
    text: str
    body_start: int  # where the text after the front-matter begins
    title: str
    lang: str
    origin: str  # front-matter ``source`` (where the document came from), "" if not given
    format: str  # markdown | html | pdf | docx
    encoding: str  # how the bytes were decoded ("" for PDF/DOCX, which carry their own)
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class SkippedFile:
    source: str
    # empty | binary | too_large | unreadable | undecodable | encrypted | duplicate | outside_corpus |
    # unsupported | hidden | ignored
    reason: str
    detail: str


@dataclass
class LoadResult:
    documents: list[SourceDocument] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


# Defaults of the settings with the same names (config/settings.py), for callers that pass none.
DEFAULT_MAX_FILE_MB = 20.0
DEFAULT_MAX_FILE_CHARS = 2_000_000
DEFAULT_MAX_UNPACKED_MB = 100.0


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one file may hold, at each stage of loading it."""

    max_bytes: int  # on disk
    max_chars: int = DEFAULT_MAX_FILE_CHARS  # of decoded / extracted text
    max_unpacked_bytes: int = int(DEFAULT_MAX_UNPACKED_MB * 2**20)  # a DOCX's zip members, uncompressed

    @classmethod
    def of(
        cls, max_file_mb: float, max_file_chars: int | None = None, max_unpacked_mb: float | None = None
    ) -> Limits:
        return cls(
            max_bytes=int(max_file_mb * 2**20),
            max_chars=max_file_chars or DEFAULT_MAX_FILE_CHARS,
            max_unpacked_bytes=int((max_unpacked_mb or DEFAULT_MAX_UNPACKED_MB) * 2**20),
        )

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls.of(settings.max_file_mb, settings.max_file_chars, settings.max_unpacked_mb)


class DecodeError(ValueError):
    """Bytes that are not text in any encoding we can identify with confidence."""


class BinaryContentError(DecodeError):
    """Bytes that look like a binary file, not text."""


# --- decoding -------------------------------------------------------------------------------------
_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Detector names for GB-family text: decode with GB18030, the superset, so rare characters survive.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936"}


def _utf16_without_bom(raw: bytes) -> str | None:
    """UTF-16 without a BOM shows up as NUL in every other byte for ASCII-heavy text."""
    sample = raw[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0) / len(sample[0::2])
    odd_nuls = sample[1::2].count(0) / len(sample[1::2])
    if odd_nuls > 0.3 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


# Unicode category Cc (C0, DEL, C1) minus the whitespace controls \t \n \v \f \r: a regex, because a
# per-character category() loop takes seconds on a 10 MB file.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    controls = sum(1 for _ in _CONTROL_CHARS.finditer(text))
    return controls / len(text) < 0.01


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Decode file bytes strictly; return (text, encoding). Raises DecodeError rather than guessing badly."""
    text, encoding = _decode(raw)
    if not _looks_like_text(text):
        raise BinaryContentError(f"decodes as {encoding} but is mostly control characters")
    return text, encoding


def _single_byte(raw: bytes, match: Any) -> bool:
    return len(str(match)) == len(raw)  # one character per byte


def _decode(raw: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise DecodeError(
                    f"has a {encoding} byte-order mark but is not valid {encoding}: {exc}"
                ) from exc
            return text, "utf-8-bom" if encoding == "utf-8" else encoding
    if b"\x00" in raw:
        encoding = _utf16_without_bom(raw)
        if encoding is None:
            raise BinaryContentError("contains NUL bytes and is not UTF-16 text")
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise BinaryContentError(f"contains NUL bytes and is not valid {encoding}") from exc
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    matches = from_bytes(raw)
    best = matches.best()
    if best is None or best.encoding is None:
        raise DecodeError("not UTF-8, and no other encoding fits (tried GB18030/GBK, Big5, ...)")
    encoding = best.encoding.lower().replace("_", "-")
    if encoding.replace("-", "") in _GB_FAMILY:
        encoding = "gb18030"
    elif _single_byte(raw, best) and any(m.encoding == "cp1252" and m.chaos <= best.chaos for m in matches):
        # Between the single-byte Latin code pages a short text is a coin toss for the detector ("Résumé"
        # came back as Baltic cp775 "Rķsumķ"). Our corpus is Chinese or English, and Windows-1252 is by far
        # the commonest legacy encoding of English text, so it wins whenever it fits as well.
        encoding = "cp1252"
    try:
        return raw.decode(encoding), encoding  # strict: never errors="ignore"
    except (UnicodeDecodeError, LookupError) as exc:
        raise DecodeError(f"looks like {encoding} but does not decode as it: {exc}") from exc


def normalise_newlines(text: str) -> str:
    # One newline convention, so offsets and line-based heading detection agree across platforms.
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- metadata -------------------------------------------------------------------------------------
def split_front_matter(text: str) -> tuple[dict, int]:
    """(front-matter dict, offset where the body starts). Invalid YAML leaves the block as body text."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, 0
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, 0
    if not isinstance(data, dict):
        return {}, 0
    return {str(k).lower(): v for k, v in data.items()}, match.end()


def _first_heading(text: str) -> str | None:
    match = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


# --- format converters: bytes -> (Markdown-style text, encoding) ----------------------------------------
def _markdown_from_html(raw: bytes) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    html, encoding = decode_bytes(raw)
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg"]):
        tag.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    for tag in soup.find_all("li"):
        tag.insert_before("\n- ")
    for tag in soup.find_all(["p", "div", "br", "tr", "pre", "blockquote", "section", "article", "table"]):
        tag.insert_after("\n")
    body = soup.body or soup
    text = "\n".join(line.strip() for line in body.get_text().splitlines())
    title = soup.title.get_text(strip=True) if soup.title else ""
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if title and not text.startswith("# "):
        text = f"# {title}\n\n{text}"
    return text + "\n", encoding


def _markdown_from_pdf(raw: bytes, limits: Limits) -> tuple[str, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(raw))
    if reader.is_encrypted:
        # Many PDFs are "encrypted" only against editing, with an empty password for reading.
        try:
            opened = reader.decrypt("")
        except Exception as exc:  # pypdf needs the cryptography package for AES
            raise _Skip("encrypted", f"the PDF is encrypted and cannot be opened here ({exc})") from exc
        if not opened:
            raise _Skip("encrypted", "the PDF is password-protected: save an unprotected copy to index it")
    pages: list[tuple[str, list[Line]]] = []
    chars = 0
    for number, page in enumerate(reader.pages, 1):
        text, lines = page_lines(page)
        chars += len(text) + 2
        if chars > limits.max_chars:  # stop extracting: the rest would be thrown away anyway
            raise _Skip(
                "too_large",
                f"more than {limits.max_chars:,} characters of text by page {number} (max_file_chars)",
            )
        pages.append((text, lines))
    # Headings are told by their size against the whole document's body text, not one page's.
    levels = heading_levels([lines for _text, lines in pages])
    body = body_size([lines for _text, lines in pages])
    texts = [(marked_text(lines, levels, body) if lines else text).strip() for text, lines in pages]
    return "\n\n".join(t for t in texts if t) + "\n", ""


def _check_unpacked_size(raw: bytes, limits: Limits) -> None:
    """Refuse a zip (DOCX) that would unpack beyond the limit *before* any library inflates it.

    The sizes come from the zip's directory. A member that lies about its size cannot get past this
    either: zipfile stops reading a member at its declared size (and then fails its CRC check).
    """
    try:
        members = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    except zipfile.BadZipFile as exc:
        raise _Skip("unreadable", f"not a valid .docx (zip) file: {exc}") from exc
    total = sum(m.file_size for m in members)
    if total > limits.max_unpacked_bytes:
        raise _Skip(
            "too_large",
            f"unpacks to {total / 2**20:,.0f} MB from {len(raw) / 2**20:.1f} MB (a zip bomb?), over "
            f"max_unpacked_mb ({limits.max_unpacked_bytes / 2**20:.0f} MB)",
        )


def _markdown_from_docx(raw: bytes, limits: Limits) -> tuple[str, str]:
    import docx

    _check_unpacked_size(raw, limits)
    document = docx.Document(io.BytesIO(raw))
    lines = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
        if style == "Title":
            lines.append(f"# {text}")
        elif match := re.match(r"Heading (\d)", style):
            lines.append(f"{'#' * min(int(match.group(1)) + 1, 6)} {text}")  # Title is level 1
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(lines) + "\n", ""


def _convert(path: Path, raw: bytes, limits: Limits) -> tuple[str, str, str]:
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return (*decode_bytes(raw), "markdown")
    if suffix in HTML_SUFFIXES:
        return (*_markdown_from_html(raw), "html")
    if suffix == ".pdf":
        return (*_markdown_from_pdf(raw, limits), "pdf")
    return (*_markdown_from_docx(raw, limits), "docx")


# --- walking and loading ----------------------------------------------------------------------------
def _source_name(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.absolute().relative_to(root.absolute()).as_posix()
        except ValueError:
            pass
    return path.name


def iter_files(paths: Iterable[Path]) -> Iterator[tuple[Path, Path | None]]:
    """(entry, corpus root) for every file under the given folders, and the given files (root None).

    Entries that will not become documents are yielded too, so that load_file can report them instead of
    dropping them silently: a hidden file or folder (once, not its contents), a symlinked folder (not
    followed: a link back up would loop forever), a folder that cannot be listed, special files.
    """
    for path in map(Path, paths):
        if not path.is_dir():
            yield path, None
            continue
        found: list[Path] = []

        def unlistable(error: OSError, into: list[Path] = found) -> None:
            into.append(Path(error.filename))

        for folder, dirnames, filenames in os.walk(path, onerror=unlistable):  # never follows symlinks
            here = Path(folder)
            descend = []
            for name in dirnames:
                if name.startswith(".") or (here / name).is_symlink():
                    found.append(here / name)
                else:
                    descend.append(name)
            dirnames[:] = descend
            found.extend(here / name for name in filenames)
        for entry in sorted(found):
            yield entry, path


def _refuse_entry(path: Path, root: Path | None) -> None:
    """Raise _Skip for an entry that is not a regular, visible file inside the corpus."""
    if path.name.startswith("."):
        raise _Skip("hidden", "hidden files and folders (.name) are not indexed")
    if root is not None:  # a symlink (of the file or a folder above it) may point anywhere
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            raise _Skip("unreadable", "a broken symlink: its target does not exist") from None
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise _Skip("unreadable", f"cannot resolve the path ({exc})") from exc
        if not target.is_relative_to(root.resolve()):
            raise _Skip("outside_corpus", f"symlink to {target.name} outside the knowledge folder")
    if path.is_dir():
        if path.is_symlink():
            raise _Skip("ignored", "a symlinked folder is not followed; its files are indexed where they are")
        raise _Skip("unreadable", "the folder cannot be listed (permissions?)")
    if not path.exists():
        raise _Skip("unreadable", "no such file (or a broken symlink)")
    if not path.is_file():
        raise _Skip("unsupported", "not a regular file (a FIFO, socket or device)")


def load_file(
    path: Path,
    source: str,
    *,
    max_bytes: int | None = None,
    root: Path | None = None,
    limits: Limits | None = None,
) -> SourceDocument:
    """Load one file. Raises _Skip(reason, detail) for anything that cannot become a document."""
    if limits is None:
        limits = Limits.of(DEFAULT_MAX_FILE_MB) if max_bytes is None else Limits(max_bytes=max_bytes)
    _refuse_entry(path, root)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise _Skip(
            "unsupported", f"{path.suffix or 'no extension'} is not one of {sorted(SUPPORTED_SUFFIXES)}"
        )
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise _Skip(
                "too_large",
                f"{size / 2**20:.1f} MB exceeds max_file_mb ({limits.max_bytes / 2**20:.1f} MB)",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise _Skip("unreadable", f"{exc.strerror or exc}") from exc
    if not raw.strip():
        raise _Skip("empty", "the file has no content")
    try:
        text, encoding, fmt = _convert(path, raw, limits)
    except _Skip:
        raise
    except BinaryContentError as exc:
        raise _Skip("binary", str(exc)) from exc
    except DecodeError as exc:
        raise _Skip("undecodable", str(exc)) from exc
    except Exception as exc:  # a broken PDF/DOCX/HTML raises library-specific errors; report, never crash
        raise _Skip(
            "unreadable", f"cannot parse as {path.suffix.lower()}: {type(exc).__name__}: {exc}"
        ) from exc
    if len(text) > limits.max_chars:
        raise _Skip(
            "too_large", f"{len(text):,} characters of text exceed max_file_chars ({limits.max_chars:,})"
        )
    text = normalise_newlines(text)
    meta, body_start = split_front_matter(text)
    body = text[body_start:]
    if not body.strip():
        raise _Skip("empty", "no text (a scanned PDF has no text layer)" if fmt == "pdf" else "no text")
    return SourceDocument(
        doc_id=content_hash(text),
        source=source,
        text=text,
        body_start=body_start,
        title=str(meta.get("title") or _first_heading(body) or path.stem),
        lang=str(meta.get("lang") or detect_language(body)),
        origin=str(meta.get("source") or ""),
        format=fmt,
        encoding=encoding,
        meta=meta,
    )


class _Skip(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def load_documents(
    paths: Iterable[Path],
    *,
    max_file_mb: float,
    prefer: Collection[str] = (),
    max_file_chars: int | None = None,
    max_unpacked_mb: float | None = None,
) -> LoadResult:
    """Load every supported file under ``paths``; the same text under two names is kept once.

    Of duplicates, a name in ``prefer`` (the one already indexed) wins, else the first in sorted order,
    so adding a copy of a document never renames it in the index.
    """
    result = LoadResult()
    seen: dict[str, int] = {}  # doc_id -> position in result.documents
    limits = Limits.of(max_file_mb, max_file_chars, max_unpacked_mb)
    for path, root in iter_files(paths):
        source = _source_name(path, root)
        if root is not None and path.parent == root and path.name == FOLDER_README:
            result.skipped.append(SkippedFile(source, "ignored", "the knowledge folder's own README"))
            continue
        try:
            doc = load_file(path, source, root=root, limits=limits)
        except _Skip as skip:
            result.skipped.append(SkippedFile(source, skip.reason, skip.detail))
            continue
        if doc.doc_id not in seen:
            seen[doc.doc_id] = len(result.documents)
            result.documents.append(doc)
            continue
        kept = result.documents[seen[doc.doc_id]]
        if doc.source in prefer and kept.source not in prefer:
            result.documents[seen[doc.doc_id]], kept, doc = doc, doc, kept
        result.skipped.append(SkippedFile(doc.source, "duplicate", f"same content as {kept.source}"))
    return result

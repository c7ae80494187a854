"""What a document's name in the knowledge folder may be, which documents are built in, and the errors of
managing documents (``python -m indexing list|remove`` and the HTTP document routes).

A name is the index's ``source``: a relative POSIX path inside the knowledge folder ("notes.md",
"term-sheets/seed.pdf"). Names arrive from command lines and from HTTP clients, so anything that could
point elsewhere — "..", an absolute or Windows path, a backslash, a hidden component — is refused with the
reason rather than cleaned up: a silently rewritten name could name another document.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from indexing.documents import SUPPORTED_SUFFIXES

# The playbook this project ships in knowledge/: removing it empties the knowledge base, so it takes --force.
BUILT_IN_SOURCES = frozenset({"playbook.md"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


class DocumentError(ValueError):
    """A document change that was refused; nothing was changed. The message says why, for the user."""


class DocumentNameError(DocumentError):
    """A name that is not a plain relative path inside the knowledge folder."""


class UnsupportedTypeError(DocumentError):
    """A file type the loader does not read."""


class NotIndexedError(DocumentError):
    """A name the index does not hold."""


class BuiltInDocumentError(DocumentError):
    """A built-in document, named without the explicit force flag."""


class UploadRefused(DocumentError):
    """An upload the loader would not index: ``reason`` is the loader's (documents.SkippedFile.reason:
    too_large, undecodable, binary, empty, unreadable, encrypted, ...) or name_taken / duplicate."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check_document_name(name: str) -> str:
    """``name`` when it is a relative POSIX path with no way out of the knowledge folder; else DocumentNameError."""
    if not name or not name.strip():
        raise DocumentNameError("The document name is empty.")
    if _CONTROL.search(name):
        raise DocumentNameError(f"The document name {name!r} contains control characters.")
    if "\\" in name or _WINDOWS_DRIVE.match(name):
        raise DocumentNameError(f"The document name {name!r} is a Windows path; use a plain file name.")
    if PurePosixPath(name).is_absolute():
        raise DocumentNameError(
            f"The document name {name!r} is absolute; name it inside the knowledge folder."
        )
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise DocumentNameError(
            f"The document name {name!r} has '..', '.' or empty parts: name a file inside the knowledge folder."
        )
    if any(part.startswith(".") for part in parts):
        raise DocumentNameError(
            f"The document name {name!r} is hidden (starts with '.'): hidden files are not indexed."
        )
    return name


def check_upload_name(name: str | None) -> str:
    """An uploaded file's name: one plain file name (no folder) of a supported type."""
    name = check_document_name(name or "")
    if "/" in name:
        raise DocumentNameError(f"The upload's file name {name!r} contains a folder; send a plain file name.")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedTypeError(
            f"{suffix or 'A file without an extension'} is not a supported type; send one of "
            f"{', '.join(sorted(SUPPORTED_SUFFIXES))}."
        )
    return name

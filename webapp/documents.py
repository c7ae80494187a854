"""The knowledge base's documents over HTTP, behind the API key: list, upload, remove.

The checks are indexing's own (the public API behind `python -m indexing add|list|remove`): the same file
types, size limits and strict decoding as `add`, names that cannot leave the knowledge folder, removal as
one crash-safe change, the built-in playbook only with `force`. This module translates between HTTP and
those functions, and keeps the running advisor on the index they wrote: each change, and the advisor's
rebuild on the new index, run in one turn of the generation queue (ChatService.change_knowledge), so an
uploaded document is found by the next question and no answer in flight is disturbed.

With no API key configured the routes are not served at all: anyone who found the URL could otherwise
delete the knowledge base, or plant documents in it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from advisor import build_advisor
from config import Settings
from indexing import (
    BuildLocked,
    BuiltInDocumentError,
    DocumentError,
    DocumentNameError,
    IndexLoadError,
    NotIndexedError,
    UnsupportedTypeError,
    UploadRefused,
    add_upload,
    check_upload,
    list_documents,
    remove_documents,
)
from webapp.schemas import ErrorOut
from webapp.security import require_api_key
from webapp.service import AdvisorReloadFailed, ChatService

# Multipart framing and the form's other parts, on top of the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# The body is parsed by the route itself, after the key is checked (see `upload`): described here for /docs.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A .md .txt .html .pdf or .docx file; its name becomes the document's.",
                        }
                    },
                }
            }
        },
    }
}
# The loader's reasons for not indexing a file, as HTTP statuses (the rest are content it cannot read: 422).
_REFUSAL_STATUS = {
    "too_large": status.HTTP_413_CONTENT_TOO_LARGE,
    "name_taken": status.HTTP_409_CONFLICT,
    "duplicate": status.HTTP_409_CONFLICT,
}


class DocumentOut(BaseModel):
    source: str = Field(description="The document's name in the knowledge folder (and in citations).")
    chunks: int = Field(description="Its passages in the index.")
    title: str = ""
    lang: str = ""
    format: str = ""
    built_in: bool = Field(False, description="The shipped playbook: removing it needs force=true.")


class DocumentListOut(BaseModel):
    documents: list[DocumentOut]
    total_documents: int
    total_chunks: int
    built_at: str = ""


class UploadOut(BaseModel):
    source: str
    added: bool = Field(
        description="False when the same file was already there and indexed (nothing changed)."
    )
    chunks: int
    total_chunks: int


class RemovedOut(BaseModel):
    removed: dict[str, int] = Field(description="Removed document -> the chunks taken out of the index.")
    total_documents: int
    total_chunks: int
    duplicates_left: list[str] = Field(
        default_factory=list,
        description="Files with the same content, skipped as duplicates until now: the next build indexes them.",
    )


def reload_from_disk(current: Any) -> Any:
    """An advisor like `current` (same settings, language model and embedder) on the index now on disk,
    its knowledge cache and renderings brought up to date (they use the model: this runs in its turn)."""
    fresh = build_advisor(current.settings, generator=current.generator, embedder=current.embedder)
    fresh.prepare_knowledge_cache()
    return fresh


# A refused or failed change's status: the first class the error is an instance of decides.
_STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (UnsupportedTypeError, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    (DocumentNameError, status.HTTP_400_BAD_REQUEST),
    (NotIndexedError, status.HTTP_404_NOT_FOUND),
    (BuiltInDocumentError, status.HTTP_403_FORBIDDEN),
    (IndexLoadError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (AdvisorReloadFailed, status.HTTP_500_INTERNAL_SERVER_ERROR),
    (BuildLocked, status.HTTP_409_CONFLICT),
)


def _error(exc: Exception) -> HTTPException:
    """The HTTP error of a refused or failed document change; the message is indexing's, for the user."""
    if isinstance(exc, UploadRefused):
        code = _REFUSAL_STATUS.get(exc.reason, status.HTTP_422_UNPROCESSABLE_CONTENT)
    else:
        code = next(
            (c for cls, c in _STATUS_OF if isinstance(exc, cls)), status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    return HTTPException(code, detail=str(exc))


# What a document change raises by design; anything else is a bug, and a 500.
_HANDLED = (DocumentError, IndexLoadError, AdvisorReloadFailed, BuildLocked)


def documents_router(service: ChatService, settings: Settings, *, api_key: str | None) -> APIRouter:
    router = APIRouter(tags=["documents"])
    keyed = [Depends(require_api_key(api_key))]
    max_file_bytes = int(settings.max_file_mb * 2**20)
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 500, 503)
    }

    def served() -> None:
        if api_key is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail="Documents are managed over HTTP only when an API key is set (FA_API_KEY).",
            )

    @router.get("/api/documents", dependencies=keyed, response_model=DocumentListOut, responses=responses)
    async def list_all() -> DocumentListOut:
        """The documents in the index, with their chunk counts."""
        served()
        try:
            listing = list_documents(settings)
        except IndexLoadError as exc:
            raise _error(exc) from None
        return DocumentListOut(
            documents=[DocumentOut(**d) for d in listing.as_dict()["documents"]],
            total_documents=len(listing.documents),
            total_chunks=listing.total_chunks,
            built_at=listing.built_at,
        )

    @router.post(
        "/api/documents",
        dependencies=keyed,
        response_model=UploadOut,
        status_code=status.HTTP_201_CREATED,
        responses=responses,
        # The file may be up to max_file_mb: this route's own body limit replaces the app's (questions).
        max_body_size=max_file_bytes + MULTIPART_OVERHEAD_BYTES,
        openapi_extra=UPLOAD_BODY,
    )
    async def upload(request: Request) -> UploadOut:
        """Add a document (multipart field `file`) and index it: searchable by the next question.

        Refused with nothing changed: a name with a folder, `..` or a leading dot (400), a type other than
        .md .txt .html .pdf .docx (415), a file over max_file_mb or a .docx that unpacks beyond
        max_unpacked_mb (413), a name already taken by other content or content already indexed (409),
        bytes that do not decode or parse (422)."""
        served()
        # The body is read only now, after the key was checked: a declared File parameter would be read
        # (up to max_file_mb, onto disk) before any dependency runs, for anyone who calls.
        # A few text fields are tolerated (and ignored): clients add some, and "no file" then gets the
        # message below rather than the parser's "too many fields".
        async with request.form(max_files=1, max_fields=8) as form:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    detail="Send the document as multipart/form-data, in a file field named 'file'.",
                )
            name = file.filename or ""
            data = await file.read(max_file_bytes + 1)  # one byte more than allowed tells "too large"
        try:
            check_upload(settings, name, len(data))  # refused now, not after waiting for the model's turn
            outcome = await service.change_knowledge(
                lambda advisor: add_upload(settings, name, data, embedder=advisor.embedder), reload_from_disk
            )
        except _HANDLED as exc:
            raise _error(exc) from None
        total = (
            outcome.build.total_chunks if outcome.build is not None else list_documents(settings).total_chunks
        )
        return UploadOut(
            source=outcome.source, added=outcome.added, chunks=outcome.chunks, total_chunks=total
        )

    @router.delete(
        "/api/documents/{name:path}", dependencies=keyed, response_model=RemovedOut, responses=responses
    )
    async def remove(
        name: str,
        force: bool = Query(False, description="Needed to remove the built-in playbook."),
    ) -> RemovedOut:
        """Remove a document from the knowledge folder and its chunks from the index, as one change."""
        served()
        try:
            report = await service.change_knowledge(
                lambda _advisor: remove_documents(settings, [name], force=force), reload_from_disk
            )
        except _HANDLED as exc:
            raise _error(exc) from None
        return RemovedOut(
            removed=report.removed,
            total_documents=report.total_documents,
            total_chunks=report.total_chunks,
            duplicates_left=report.duplicates_left,
        )

    return router

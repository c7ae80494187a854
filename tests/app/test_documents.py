"""The document routes against the live app (create_app, the real advisor with the test profile's fakes, an
index built on disk): upload, list and remove behind the API key; bad input refused with a clear 4xx and
the index unchanged; an uploaded document found by the next question; answers in flight undisturbed."""

from __future__ import annotations

import io
import shutil
import threading
import zipfile

import httpx
import pytest
from fastapi.testclient import TestClient

from advisor import build_advisor
from advisor.generate import ScriptedGenerator
from app import create_app
from indexing import HashEmbedder, build_index
from indexing.manifest import MANIFEST_FILE
from tests.app.support import PRICING_QUESTION, SlowGenerator, scripted_reply, serve, web_settings
from tests.indexing.support import PLAYBOOK

KEY = "documents-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MB = 2**20
# Small limits, so that "too large" and the zip bomb cost kilobytes: the playbook (37 KB) still fits.
MAX_FILE_MB = 0.05
MAX_UNPACKED_MB = 1.0
INTERVIEWS = (
    "# Customer interviews\n\n## How many interviews before building\n\n"
    "A founder should do at least 20 customer interviews before building the product, and ask about "
    "the problem, not the solution.\n"
)
INTERVIEWS_QUESTION = "How many customer interviews should a founder do before building the product?"


def _settings(tmp_path, **overrides):
    return web_settings(
        tmp_path / "data",
        knowledge_dir=tmp_path / "knowledge",
        max_file_mb=MAX_FILE_MB,
        max_unpacked_mb=MAX_UNPACKED_MB,
        translate_queries=False,  # the scripted model writes answers, not translations
        **overrides,
    )


def _live_app(tmp_path, generator=None, **overrides):
    """The app on an index built on disk from a knowledge folder holding the playbook."""
    settings = _settings(tmp_path, **overrides)
    settings.knowledge_dir.mkdir(parents=True)
    shutil.copy(PLAYBOOK, settings.knowledge_dir / "playbook.md")
    build_index(settings, embedder=HashEmbedder(), progress=False)
    advisor = build_advisor(
        settings, generator=generator or ScriptedGenerator(scripted_reply), embedder=HashEmbedder()
    )
    return create_app(settings, advisor=advisor), settings


@pytest.fixture
def live(tmp_path):
    app, settings = _live_app(tmp_path, api_key=KEY)
    with TestClient(app) as client:
        yield client, app, settings


def _on_disk(settings) -> tuple[bytes, list[str]]:
    """What a refused request must leave alone: the manifest's bytes and the knowledge folder's files."""
    files = sorted(
        p.relative_to(settings.knowledge_dir).as_posix() for p in settings.knowledge_dir.rglob("*")
    )
    return (settings.index_dir / MANIFEST_FILE).read_bytes(), files


def _zip_bomb(unpacked_mb: int) -> bytes:
    """A zip whose one member is `unpacked_mb` MB of zeros (~1000:1): a .docx in name only."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/document.xml", "w", force_zip64=True) as member,
    ):
        for _ in range(unpacked_mb):
            member.write(b"\0" * MB)
    return out.getvalue()


def test_upload_list_and_remove(live):
    client, _app, settings = live
    listing = client.get("/api/documents", headers=AUTH).json()
    assert [(d["source"], d["built_in"]) for d in listing["documents"]] == [("playbook.md", True)]
    playbook_chunks = listing["total_chunks"]

    up = client.post("/api/documents", headers=AUTH, files={"file": ("interviews.md", INTERVIEWS.encode())})
    assert up.status_code == 201, up.text
    assert up.json() == {
        "source": "interviews.md",
        "added": True,
        "chunks": 1,
        "total_chunks": playbook_chunks + 1,
    }
    assert (settings.knowledge_dir / "interviews.md").read_text(encoding="utf-8") == INTERVIEWS
    listing = client.get("/api/documents", headers=AUTH).json()
    assert {d["source"]: d["chunks"] for d in listing["documents"]} == {
        "interviews.md": 1,
        "playbook.md": playbook_chunks,
    }
    assert (listing["total_documents"], listing["total_chunks"]) == (2, playbook_chunks + 1)
    # The running advisor was swapped for one on the new index: health reports it.
    assert client.get("/api/health").json()["index"]["sources"]["interviews.md"] == 1

    # The same file again changes nothing; other content under the same name is refused.
    again = client.post(
        "/api/documents", headers=AUTH, files={"file": ("interviews.md", INTERVIEWS.encode())}
    )
    assert again.status_code == 201 and again.json()["added"] is False
    taken = client.post(
        "/api/documents", headers=AUTH, files={"file": ("interviews.md", b"# Other\n\nText.\n")}
    )
    assert taken.status_code == 409 and "already exists" in taken.json()["detail"]
    # The same content under another name would add nothing: refused, and no second copy is kept.
    copy = client.post("/api/documents", headers=AUTH, files={"file": ("copy.md", INTERVIEWS.encode())})
    assert copy.status_code == 409 and "same content as interviews.md" in copy.json()["detail"]
    assert not (settings.knowledge_dir / "copy.md").exists()

    gone = client.delete("/api/documents/interviews.md", headers=AUTH)
    assert gone.status_code == 200, gone.text
    assert gone.json()["removed"] == {"interviews.md": 1} and gone.json()["total_chunks"] == playbook_chunks
    assert not (settings.knowledge_dir / "interviews.md").exists()
    assert "interviews.md" not in client.get("/api/health").json()["index"]["sources"]
    assert client.delete("/api/documents/interviews.md", headers=AUTH).status_code == 404


def test_an_uploaded_document_is_retrieved_by_the_next_question(live):
    client, app, _settings = live
    service = app.state.chat_service
    before = service.advisor
    assert all(h.chunk.source == "playbook.md" for h in before.retrieve(INTERVIEWS_QUESTION, k=3))

    up = client.post("/api/documents", headers=AUTH, files={"file": ("interviews.md", INTERVIEWS.encode())})
    assert up.status_code == 201, up.text
    assert service.advisor is not before  # swapped, not patched: an answer in flight keeps the old one
    hits = service.advisor.retrieve(INTERVIEWS_QUESTION, k=3)
    assert hits[0].chunk.source == "interviews.md", [(h.chunk.source, h.chunk.section) for h in hits]
    assert hits[0].chunk.section.endswith("How many interviews before building")

    client.delete("/api/documents/interviews.md", headers=AUTH)
    hits = service.advisor.retrieve(INTERVIEWS_QUESTION, k=3)
    assert all(h.chunk.source == "playbook.md" for h in hits)


BAD_UPLOADS = [
    # (file name, bytes, status, words of the message)
    ("notes.exe", b"MZ\x90\x00", 415, "not a supported type"),
    ("notes.zip", b"PK\x03\x04", 415, "not a supported type"),
    ("big.md", b"# Big\n\n" + b"a" * int(MAX_FILE_MB * MB), 413, "exceeds max_file_mb"),
    ("broken.txt", b"\xef\xbb\xbf# Title\n\n\xff\xfe\xfd not utf-8", 422, "not valid utf-8"),
    ("binary.md", bytes(range(256)) * 8, 422, "NUL bytes"),
    ("empty.md", b"  \n\n", 422, "no content"),
    ("bomb.docx", _zip_bomb(3), 413, "zip bomb"),
    ("fake.pdf", b"%PDF-1.4 this is no pdf", 422, "cannot parse as .pdf"),
    ("../x.md", b"# X\n\ntext\n", 400, "'..'"),
    ("../../etc/cron.d/x.md", b"# X\n\ntext\n", 400, "'..'"),
    ("/etc/x.md", b"# X\n\ntext\n", 400, "absolute"),
    ("sub/x.md", b"# X\n\ntext\n", 400, "contains a folder"),
    ("..\\x.md", b"# X\n\ntext\n", 400, "Windows path"),
    ("C:x.md", b"# X\n\ntext\n", 400, "Windows path"),
    (".env.md", b"# X\n\ntext\n", 400, "hidden"),
]


@pytest.mark.parametrize(("name", "data", "code", "words"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_bad_uploads_are_refused_clearly_and_change_nothing(live, name, data, code, words):
    client, _app, settings = live
    before = _on_disk(settings)
    response = client.post("/api/documents", headers=AUTH, files={"file": (name, data)})
    assert response.status_code == code, response.text
    assert words in response.json()["detail"]
    assert _on_disk(settings) == before
    assert not any((settings.knowledge_dir.parent / part).exists() for part in ("x.md", "etc"))


def test_a_body_far_over_the_limit_is_cut_off_before_it_is_read(live):
    client, _app, settings = live
    before = _on_disk(settings)
    huge = b"a" * (int(MAX_FILE_MB * MB) + 512 * 1024)  # beyond the route's body limit (file + 64 KB)
    response = client.post("/api/documents", headers=AUTH, files={"file": ("huge.md", huge)})
    assert response.status_code == 413 and "Too Large" in response.text
    assert _on_disk(settings) == before


def test_a_request_without_a_file_says_how_to_send_one(live):
    client, _app, settings = live
    before = _on_disk(settings)
    for kwargs in ({"data": {"file": "not a file"}}, {"json": {"file": "x.md"}}, {}):
        response = client.post("/api/documents", headers=AUTH, **kwargs)
        assert response.status_code == 422 and "field named 'file'" in response.json()["detail"]
    assert _on_disk(settings) == before


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("playbook.md", 403, "built-in playbook"),
        ("nothere.md", 404, "Not in the index"),
        ("..%2Fplaybook.md", 400, "'..'"),
        ("%2Fetc%2Fpasswd", 400, "absolute"),
        ("sub%5C..%5Cplaybook.md", 400, "Windows path"),
    ],
)
def test_bad_removals_are_refused_clearly_and_change_nothing(live, path, code, words):
    client, _app, settings = live
    before = _on_disk(settings)
    response = client.delete(f"/api/documents/{path}", headers=AUTH)
    assert response.status_code == code, response.text
    assert words in response.json()["detail"]
    assert _on_disk(settings) == before


def test_the_playbook_goes_only_with_force(live):
    client, _app, settings = live
    response = client.delete("/api/documents/playbook.md?force=true", headers=AUTH)
    assert response.status_code == 200 and response.json()["total_chunks"] == 0
    assert not (settings.knowledge_dir / "playbook.md").exists()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_every_route_needs_the_key(live, headers):
    client, _app, settings = live
    before = _on_disk(settings)
    responses = [
        client.get("/api/documents", headers=headers),
        client.post("/api/documents", headers=headers, files={"file": ("x.md", b"# X\n\ntext\n")}),
        client.delete("/api/documents/playbook.md?force=true", headers=headers),
    ]
    for response in responses:
        assert response.status_code == 401 and "API key" in response.json()["detail"]
    assert _on_disk(settings) == before


def test_without_a_configured_key_the_routes_are_not_served(tmp_path):
    app, settings = _live_app(tmp_path)  # no api_key
    before = _on_disk(settings)
    with TestClient(app) as client:
        responses = [
            client.get("/api/documents"),
            client.post("/api/documents", files={"file": ("x.md", b"# X\n\ntext\n")}),
            client.delete("/api/documents/playbook.md?force=true"),
        ]
    for response in responses:
        assert response.status_code == 404 and "FA_API_KEY" in response.json()["detail"]
    assert _on_disk(settings) == before


def test_an_upload_waits_for_the_answer_in_flight_which_finishes_unharmed(tmp_path):
    """Over a real socket: a slow answer is streaming when the upload arrives. The upload takes its turn
    after it, the answer completes from the old index, and the next question sees the new one."""
    generator = SlowGenerator(pieces=60, delay_s=0.02)
    app, _settings = _live_app(tmp_path, generator=generator, api_key=KEY)
    service = app.state.chat_service
    answer: dict = {}

    with serve(app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=60) as client:

        def ask() -> None:
            answer.update(client.post("/api/ask", json={"question": PRICING_QUESTION}).json())

        asking = threading.Thread(target=ask)
        asking.start()
        while generator.produced == 0:  # the answer is being written
            assert asking.is_alive(), answer
            threading.Event().wait(0.01)
        old = service.advisor
        up = client.post("/api/documents", files={"file": ("interviews.md", INTERVIEWS.encode())})
        answer_done_first = generator.finished.is_set()  # the upload's turn came after the answer's
        asking.join(timeout=60)

    assert up.status_code == 201, up.text
    assert answer_done_first and not generator.stopped.is_set()  # written to the end, not cut off
    assert generator.produced == 60
    assert answer["refused"] is False and answer["citations"], answer
    assert service.advisor is not old
    assert service.advisor.retrieve(INTERVIEWS_QUESTION, k=1)[0].chunk.source == "interviews.md"


def test_a_change_while_another_build_writes_the_index_is_refused_and_undone(live):
    """`python -m indexing build` holds the build lock: the upload's copy is taken back, a 409 says why."""
    from indexing.build import build_lock

    client, _app, settings = live
    before = _on_disk(settings)
    with build_lock(settings.index_dir):
        up = client.post(
            "/api/documents", headers=AUTH, files={"file": ("interviews.md", INTERVIEWS.encode())}
        )
        gone = client.delete("/api/documents/playbook.md?force=true", headers=AUTH)
    for response in (up, gone):
        assert response.status_code == 409 and "another build" in response.json()["detail"], response.text
    assert _on_disk(settings) == before
    assert (
        client.post(
            "/api/documents", headers=AUTH, files={"file": ("interviews.md", INTERVIEWS.encode())}
        ).status_code
        == 201
    )


def test_a_chinese_file_name_with_a_space_round_trips(live):
    client, _app, settings = live
    name = "股权 分配.md"
    text = "# 股权\n\n## 技术合伙人\n\n技术合伙人通常获得15%到30%的股权。\n"
    up = client.post("/api/documents", headers=AUTH, files={"file": (name, text.encode())})
    assert up.status_code == 201 and up.json()["source"] == name, up.text
    assert (settings.knowledge_dir / name).read_text(encoding="utf-8") == text
    assert name in [d["source"] for d in client.get("/api/documents", headers=AUTH).json()["documents"]]
    assert client.delete(f"/api/documents/{name}", headers=AUTH).json()["removed"] == {name: 1}
    assert not (settings.knowledge_dir / name).exists()

"""`python -m indexing list|remove`: counts per source, and removal as one crash-safe change.

A refused removal (a typo, a path outside the knowledge folder, the built-in playbook without --force)
changes nothing, byte for byte. A removal that fails while saving puts the file back; one killed while
saving leaves the old or the new index, never a mix, and the next build completes it.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time

import pytest

from bench.fault_injection import Snapshot, build_command, write_corpus
from config import PROJECT_ROOT
from indexing import (
    BuiltInDocumentError,
    DocumentNameError,
    NotIndexedError,
    load_index,
    remove_documents,
)
from indexing.build import STAGED_REMOVALS_PREFIX, build_index
from indexing.manage import list_documents, source_name_for
from indexing.manifest import MANIFEST_FILE
from tests.indexing.support import PLAYBOOK, write_doc

PRICING = {"5.3 定价": "基础版产品定价为每月1000元；专业版产品定价为每月5000元。", "5.4 Team": "Hire slowly."}
RISK = {"9.3 风险": "资金风险：合理规划资金使用。", "9.4 Legal": "Protect intellectual property."}
KILLS = 6


@pytest.fixture
def corpus(settings, knowledge, embedder):
    """The built-in playbook and two added documents (one in a subfolder), indexed."""
    shutil.copy(PLAYBOOK, knowledge / "playbook.md")
    write_doc(knowledge, "pricing.md", "Pricing", PRICING)
    write_doc(knowledge, "notes/risk.md", "Risk", RISK)
    build_index(settings, embedder=embedder, progress=False)
    return knowledge


def _state(settings) -> tuple[bytes, list[str]]:
    """What a refused change must leave alone: the manifest's bytes and every path in the knowledge folder."""
    files = sorted(
        p.relative_to(settings.knowledge_dir).as_posix() for p in settings.knowledge_dir.rglob("*")
    )
    return (settings.index_dir / MANIFEST_FILE).read_bytes(), files


@pytest.fixture
def cli(tmp_path, knowledge, monkeypatch, capsys):
    """`python -m indexing ...` in-process on the test profile; returns (exit code, stdout, stderr)."""
    from config.settings import get_settings
    from indexing.__main__ import main

    monkeypatch.setenv("FA_PROFILE", "test")
    monkeypatch.setenv("FA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FA_KNOWLEDGE_DIR", str(knowledge))

    def run(*args: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    get_settings.cache_clear()


def test_list_gives_chunks_per_source_and_the_total(corpus, settings, cli):
    index = load_index(settings.index_dir)
    counts = index.counts_by_source()
    assert set(counts) == {"playbook.md", "pricing.md", "notes/risk.md"}

    code, out, _ = cli("list", "--json")
    listing = json.loads(out)
    assert code == 0
    assert {d["source"]: d["chunks"] for d in listing["documents"]} == counts
    assert listing["total_chunks"] == len(index) == sum(counts.values())
    assert listing["total_documents"] == 3
    assert [d["source"] for d in listing["documents"] if d["built_in"]] == ["playbook.md"]

    code, out, _ = cli("list")
    assert code == 0
    assert f"{counts['pricing.md']:6d}  pricing.md  — Pricing" in out
    assert "playbook.md" in out and "[built-in]" in out
    assert f"{len(index):6d}  chunks in 3 documents" in out


def test_remove_takes_the_file_and_its_chunks_and_reembeds_nothing(corpus, settings, embedder, cli):
    before = load_index(settings.index_dir)
    code, out, err = cli("remove", str(corpus / "notes" / "risk.md"), "pricing.md")
    assert code == 0, err
    assert "removed notes/risk.md (2 chunks)" in out and "removed pricing.md (2 chunks)" in out

    after = load_index(settings.index_dir)
    assert after.counts_by_source() == {"playbook.md": before.counts_by_source()["playbook.md"]}
    assert set(after.manifest["sources"]) == {"playbook.md"} and after.manifest["count"] == len(after)
    # The remaining chunks keep their vectors: same rows as before, nothing re-embedded.
    kept = [row for row, c in enumerate(before.chunks) if c.source == "playbook.md"]
    assert (after.vectors() == before.vectors()[kept]).all()
    assert not (corpus / "pricing.md").exists() and not (corpus / "notes").exists()  # empty folder pruned
    assert not list(corpus.glob(f"{STAGED_REMOVALS_PREFIX}*"))
    assert list_documents(settings).total_chunks == len(after)

    # The folder and the index agree: the next build has nothing to do.
    embedder.embedded = 0
    again = build_index(settings, embedder=embedder, progress=False)
    assert not again.written and embedder.embedded == 0


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("playbook.md", "built-in playbook"),  # the knowledge base itself, without --force
        ("nothere.md", "Not in the index: nothere.md"),  # a typo
        ("../pricing.md", "'..'"),
        ("/etc/passwd", "outside the knowledge folder"),
        ("notes", "Not in the index: notes"),  # a folder is not a document
    ],
)
def test_a_refused_remove_changes_nothing(corpus, settings, cli, given, message):
    before = _state(settings)
    code, _out, err = cli("remove", given, "pricing.md")  # one bad name refuses the whole command
    assert code == 2 and message in err, err
    assert _state(settings) == before


def test_the_playbook_goes_only_with_force(corpus, settings, cli):
    with pytest.raises(BuiltInDocumentError):
        remove_documents(settings, ["playbook.md"])
    code, out, _ = cli("remove", "--force", "playbook.md")
    assert code == 0 and "removed playbook.md" in out
    assert set(load_index(settings.index_dir).counts_by_source()) == {"pricing.md", "notes/risk.md"}
    assert not (corpus / "playbook.md").exists()


def test_paths_and_names_resolve_inside_the_knowledge_folder(corpus, settings, monkeypatch):
    monkeypatch.chdir(corpus.parent)
    assert source_name_for(settings, "knowledge/notes/risk.md") == "notes/risk.md"  # relative to here
    assert source_name_for(settings, str(corpus / "pricing.md")) == "pricing.md"
    assert source_name_for(settings, "notes/risk.md") == "notes/risk.md"  # a name in the folder
    assert source_name_for(settings, str(corpus / "gone.md")) == "gone.md"  # deleted by hand: its chunks
    for bad in ("knowledge", str(corpus.parent / "elsewhere.md"), "a/../../b.md", "C:\\x.md", ".hidden.md"):
        with pytest.raises(DocumentNameError):
            source_name_for(settings, bad)
    with pytest.raises(NotIndexedError):
        remove_documents(settings, ["gone.md"])


def test_a_document_deleted_by_hand_still_has_its_chunks_removed(corpus, settings):
    (corpus / "pricing.md").unlink()
    report = remove_documents(settings, ["pricing.md"])
    assert report.removed == {"pricing.md": 2} and report.files_deleted == []
    assert "pricing.md" not in load_index(settings.index_dir).counts_by_source()


def test_removing_a_document_with_a_duplicate_says_the_copy_will_come_back(corpus, settings, embedder):
    shutil.copy(corpus / "pricing.md", corpus / "pricing-copy.md")
    build_index(settings, embedder=embedder, progress=False)  # the copy is skipped as a duplicate
    report = remove_documents(settings, ["pricing.md"])
    assert report.duplicates_left == ["pricing-copy.md"]
    assert "pricing-copy.md has the same content" in report.summary()


def test_a_save_that_fails_puts_the_file_back(corpus, settings, monkeypatch):
    """The disk fills up at the swap: the removal is undone, the index and the folder are as they were."""
    from indexing import store

    def disk_full(tmp, index_dir):
        raise OSError(28, "No space left on device")

    before = _state(settings)
    monkeypatch.setattr(store, "_swap_in", disk_full)
    with pytest.raises(OSError, match="No space left"):
        remove_documents(settings, ["notes/risk.md"])
    assert _state(settings) == before
    assert (corpus / "notes" / "risk.md").read_text(encoding="utf-8").startswith("# Risk")


def _remove_command(settings, name: str) -> tuple[list[str], dict[str, str]]:
    command, env = build_command(settings.data_dir, settings.knowledge_dir)
    return [*command[:-1], "remove", name], env  # `python -m indexing remove NAME`, same environment


def _killed_remove(settings, name: str, after_s: float | None) -> float:
    """Run the remove; SIGKILL it `after_s` seconds after it announces the save (None: let it finish).
    Returns the seconds from the announcement to the end."""
    command, env = _remove_command(settings, name)
    proc = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("saving "):
            break
    started = time.perf_counter()
    if after_s is not None:
        time.sleep(after_s)
        proc.send_signal(signal.SIGKILL)
    rest = proc.stderr.read()
    code = proc.wait(timeout=120)
    assert after_s is not None or code == 0, rest
    return time.perf_counter() - started


def test_a_remove_killed_while_saving_leaves_the_old_or_the_new_index(
    tmp_path, settings, knowledge, embedder
):
    """Like the build's kill test (tests/indexing/test_faults.py): SIGKILL at random times in the save."""
    write_corpus(knowledge, docs=40, sections=50, seed=3)  # ~3,300 chunks: a save of ~0.2 s
    extra = knowledge / "doc000.md"
    text = extra.read_text(encoding="utf-8")
    build_index(settings, embedder=embedder, progress=False)
    old = Snapshot.of(load_index(settings.index_dir))
    window = _killed_remove(settings, "doc000.md", None)
    new = Snapshot.of(load_index(settings.index_dir))
    assert len(new.chunk_ids) < len(old.chunk_ids)

    rng = random.Random(16)
    outcomes = []
    for n in range(KILLS):
        extra.write_text(text, encoding="utf-8")
        build_index(settings, embedder=embedder, progress=False)
        assert Snapshot.of(load_index(settings.index_dir)) == old
        # One kill in each slice of the window (the swap comes about halfway): both sides get hit.
        _killed_remove(settings, "doc000.md", window * (n + rng.random()) / KILLS)

        loaded = Snapshot.of(load_index(settings.index_dir))  # never an error: old or new, complete
        outcome = "new" if loaded == new else "old" if loaded == old else "mixed"
        assert outcome != "mixed", f"kill {n}"
        outcomes.append(outcome)
        # The save was announced after the file left the folder: the removal is decided ...
        assert not extra.exists()
        # ... and the next build completes it and cleans up what the kill left.
        build_index(settings, embedder=embedder, progress=False)
        assert Snapshot.of(load_index(settings.index_dir)) == new
        assert not list(knowledge.glob(f"{STAGED_REMOVALS_PREFIX}*"))
        assert not list(settings.data_dir.glob(".index.tmp-*"))
    print(f"\n{KILLS} kills within {window:.2f} s of the save starting: {outcomes}")


def test_staged_files_are_hidden_from_the_build(corpus, settings, embedder):
    """What a killed remove staged is never indexed: the build deletes it, it does not read it."""
    staged = corpus / f"{STAGED_REMOVALS_PREFIX}dead" / "pricing.md"
    staged.parent.mkdir()
    (corpus / "pricing.md").rename(staged)
    report = build_index(settings, embedder=embedder, progress=False)
    assert report.removed_sources == ["pricing.md"]
    assert not staged.parent.exists()
    assert all(not s.source.startswith(STAGED_REMOVALS_PREFIX) for s in report.skipped)


def test_names_of_every_kind_of_trick_are_refused(settings):
    from indexing.doc_names import check_document_name, check_upload_name

    for bad in (
        "",
        " ",
        "../x.md",
        "a/../../x.md",
        "/abs.md",
        "C:x.md",
        "a\\b.md",
        ".env",
        "a/.git/x.md",
        "x\x00.md",
    ):
        with pytest.raises(DocumentNameError):
            check_document_name(bad)
    assert check_document_name("term sheets/种子轮.md") == "term sheets/种子轮.md"
    with pytest.raises(DocumentNameError):
        check_upload_name("folder/x.md")
    assert check_upload_name("Notes.PDF") == "Notes.PDF"


def test_remove_needs_an_index(settings, knowledge):
    from indexing import IndexLoadError

    write_doc(knowledge, "pricing.md", "Pricing", PRICING)
    with pytest.raises(IndexLoadError, match="build"):
        remove_documents(settings, ["pricing.md"])
    assert (knowledge / "pricing.md").exists()


def test_the_upload_name_check_refuses_types_the_loader_does_not_read():
    from indexing import UnsupportedTypeError
    from indexing.doc_names import check_upload_name

    for bad in ("x.exe", "x.docx.zip", "README", "x.csv"):
        with pytest.raises(UnsupportedTypeError):
            check_upload_name(bad)

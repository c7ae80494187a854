"""The FAISS index directory: search, atomic save, verified load, clear errors, fallback, GPU parity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexing import IndexLoadError, IndexMismatchError, VectorIndex, gpu_available, load_index
from indexing.chunking import chunk_document
from indexing.embedders import HashEmbedder
from indexing.manifest import CHUNKS_FILE, FAISS_FILE, MANIFEST_FILE, REBUILD_HINT
from indexing.types import Chunk


def _chunks(texts: list[str], source: str = "notes.md") -> list[Chunk]:
    return [
        Chunk(f"c{i}", "doc", t, f"{i + 1}.1 Section {i}", source, "en", i * 100, i * 100 + len(t))
        for i, t in enumerate(texts)
    ]


TEXTS = [
    "value based pricing for the professional plan",
    "hiring the first engineers",
    "market research methods and surveys",
    "legal risks and intellectual property",
]


def test_search_ranks_the_matching_chunk_first(embedder):
    index = VectorIndex.from_chunks(_chunks(TEXTS), embedder)
    hits = index.search(embedder.embed(["pricing for the professional plan", "first engineers"], "query"), 2)
    assert hits[0][0].chunk.chunk_id == "c0"
    assert hits[1][0].chunk.chunk_id == "c1"
    assert [h.rank for h in hits[0]] == [1, 2]
    assert hits[0][0].score >= hits[0][1].score


def test_search_edge_cases(embedder):
    index = VectorIndex.from_chunks(_chunks(TEXTS), embedder)
    one = embedder.embed(["pricing"], "query")[0]
    assert len(index.search(one, 50)[0]) == len(TEXTS)  # k beyond size, 1-d query
    assert index.search(one, 0) == [[]]
    empty = VectorIndex.from_chunks([], embedder)
    assert empty.search(embedder.embed(["x"], "query"), 5) == [[]]
    with pytest.raises(ValueError, match="dimension 384"):
        index.search(np.zeros((1, 16), dtype=np.float32), 3)


def test_save_and_load_round_trip_with_manifest(tmp_path, embedder, playbook_doc):
    chunks = chunk_document(playbook_doc, 500, 60)
    index = VectorIndex.from_chunks(chunks, embedder)
    index.save(
        tmp_path / "index", {"chunking": {"chunk_size": 500}, "sources": {"playbook.md": {"doc_id": "x"}}}
    )
    loaded = load_index(tmp_path / "index", embedder=embedder)
    assert loaded.chunks == chunks
    assert np.allclose(loaded.vectors(), index.vectors())
    manifest = json.loads((tmp_path / "index" / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert (
        manifest["embedder_id"] == "hash-384" and manifest["dim"] == 384 and manifest["count"] == len(chunks)
    )
    assert manifest["chunking"] == {"chunk_size": 500} and "playbook.md" in manifest["sources"]
    assert "faiss-cpu" in manifest["library_versions"] and manifest["built_at"]
    q = embedder.embed(["基础版产品定价为每月1000元"], "query")
    assert loaded.search(q, 1)[0][0].chunk == index.search(q, 1)[0][0].chunk


def test_manifest_mismatch_names_the_fix(tmp_path, embedder):
    VectorIndex.from_chunks(_chunks(TEXTS), embedder).save(tmp_path / "index", {})
    with pytest.raises(IndexMismatchError) as err:
        load_index(tmp_path / "index", embedder=HashEmbedder(dim=256))
    assert "hash-384" in str(err.value) and "hash-256" in str(err.value)
    assert "python -m indexing build --rebuild" in str(err.value)
    with pytest.raises(IndexMismatchError, match="dimension"):
        load_index(tmp_path / "index", embedder_id="hash-384", dim=768)


def test_missing_index_names_the_fix(tmp_path):
    with pytest.raises(IndexLoadError, match="python -m indexing build --rebuild"):
        load_index(tmp_path / "nothing-here")


@pytest.mark.parametrize("damage", ["truncate_chunks", "garble_faiss", "drop_faiss", "bad_manifest"])
def test_corruption_is_detected_and_falls_back_to_the_previous_index(tmp_path, embedder, damage):
    index_dir = tmp_path / "index"
    old = VectorIndex.from_chunks(_chunks(TEXTS[:2]), embedder)
    old.save(index_dir, {})
    VectorIndex.from_chunks(_chunks(TEXTS), embedder).save(index_dir, {})  # old one -> index.prev
    if damage == "truncate_chunks":
        lines = (index_dir / CHUNKS_FILE).read_text(encoding="utf-8").splitlines(keepends=True)
        (index_dir / CHUNKS_FILE).write_text("".join(lines[:-1]), encoding="utf-8")
    elif damage == "garble_faiss":
        (index_dir / FAISS_FILE).write_bytes(b"\x00" * 64)
    elif damage == "drop_faiss":
        (index_dir / FAISS_FILE).unlink()
    else:
        (index_dir / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexLoadError, match="--rebuild"):
        load_index(index_dir, embedder=embedder, fallback=False)
    fallen = load_index(index_dir, embedder=embedder)
    assert len(fallen) == 2 and fallen.fell_back_from and REBUILD_HINT in fallen.fell_back_from


def test_interrupted_swap_leaves_the_old_index_loadable(tmp_path, embedder, monkeypatch):
    import indexing.store as store

    index_dir = tmp_path / "index"
    VectorIndex.from_chunks(_chunks(TEXTS[:3]), embedder).save(index_dir, {})
    real_replace, calls = store.os.replace, []

    def crash_on_second_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # index -> index.prev done; the crash hits before tmp -> index
            raise OSError("simulated crash mid-swap")
        return real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", crash_on_second_rename)
    with pytest.raises(OSError, match="simulated crash"):
        VectorIndex.from_chunks(_chunks(TEXTS), embedder).save(index_dir, {})
    monkeypatch.undo()
    assert not index_dir.exists()
    survivor = load_index(index_dir, embedder=embedder)
    assert len(survivor) == 3 and survivor.fell_back_from
    assert not list(tmp_path.glob(".index.tmp-*"))  # the half-built temp dir was cleaned up


def test_crash_while_writing_leaves_the_old_index_untouched(tmp_path, embedder, monkeypatch):
    import indexing.store as store

    index_dir = tmp_path / "index"
    VectorIndex.from_chunks(_chunks(TEXTS[:3]), embedder).save(index_dir, {})

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_chunks", crash)
    with pytest.raises(OSError, match="disk full"):
        VectorIndex.from_chunks(_chunks(TEXTS), embedder).save(index_dir, {})
    monkeypatch.undo()
    loaded = load_index(index_dir, embedder=embedder, fallback=False)
    assert len(loaded) == 3 and loaded.fell_back_from is None


def test_cpu_request_for_cuda_falls_back_cleanly_without_a_gpu(embedder):
    if gpu_available():
        pytest.skip("this machine has a FAISS GPU: covered by test_gpu_search_matches_cpu")
    index = VectorIndex.from_chunks(_chunks(TEXTS), embedder, device="cuda")
    assert index.device == "cpu" and len(index.search(embedder.embed(["pricing"], "query"), 2)[0]) == 2


@pytest.mark.gpu
def test_gpu_search_matches_cpu(embedder):
    chunks = _chunks([f"{t} variant {i}" for i in range(50) for t in TEXTS])
    vectors = embedder.embed([c.text for c in chunks], "passage")
    cpu = VectorIndex.from_vectors(chunks, vectors, embedder.model_id, device="cpu")
    gpu = VectorIndex.from_vectors(chunks, vectors, embedder.model_id, device="cuda")
    # With CUDA present the GPU branch must be taken wherever this FAISS build supports it.
    assert gpu.device == ("cuda" if gpu_available() else "cpu")
    queries = embedder.embed([*TEXTS, "pricing", "team"], "query")
    for c_hits, g_hits in zip(cpu.search(queries, 10), gpu.search(queries, 10), strict=True):
        assert np.allclose([h.score for h in c_hits], [h.score for h in g_hits], atol=1e-4)

        # Same hits; equal scores (ties) may come back in either order.
        def key(hits):
            return sorted((-round(h.score, 4), h.chunk.chunk_id) for h in hits)

        assert key(c_hits) == key(g_hits)

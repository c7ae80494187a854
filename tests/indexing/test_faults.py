"""Faults: a build killed while saving, corrupt index files, a model that cannot load.

Each check ends in one of two outcomes the founder can live with — the complete old index, the complete
new one, or a clear error that names the fix — and never a mix of two indexes or a silently wrong answer.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from advisor import build_advisor
from advisor.generate import ScriptedGenerator
from config import PROJECT_ROOT, settings_for_tests
from indexing import IndexLoadError, VectorIndex, build_index, load_index
from indexing.embedders import HashEmbedder
from indexing.manifest import CHUNKS_FILE, FAISS_FILE, MANIFEST_FILE, REBUILD_HINT
from indexing.store import PREV_SUFFIX
from indexing.types import Chunk

KILLS = 20
SAVING_MARKER = "saving "  # printed by build_index right before index.save()
_WORDS = [
    "pricing",
    "team",
    "market",
    "risk",
    "founder",
    "revenue",
    "customer",
    "product",
    "growth",
    "hiring",
]


# --- the index as the app would see it ------------------------------------------------------------------
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


def _write_corpus(folder: Path, docs: int, sections: int, seed: int) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(docs):
        body = "".join(
            f"\n## {d}.{s} Section\n\n" + " ".join(rng.choice(_WORDS) for _ in range(70)) + ".\n"
            for s in range(sections)
        )
        (folder / f"doc{d:03d}.md").write_text(f"# Document {d}\n{body}", encoding="utf-8")


def _build_command(data_dir: Path, knowledge: Path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FA_")}
    env.update(FA_PROFILE="test", FA_DATA_DIR=str(data_dir), FA_KNOWLEDGE_DIR=str(knowledge))
    return [sys.executable, "-m", "indexing", "build"], env


def _start_build(data_dir: Path, knowledge: Path) -> tuple[subprocess.Popen, float]:
    """Start `python -m indexing build`; return it once it has announced the save (and when it did)."""
    command, env = _build_command(data_dir, knowledge)
    proc = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(SAVING_MARKER):
            return proc, time.perf_counter()
    proc.wait()
    raise AssertionError(f"the build ended (exit {proc.returncode}) without saving")


def _finish(proc: subprocess.Popen) -> None:
    assert proc.stderr is not None
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, rest


def _load(data_dir: Path) -> VectorIndex:
    return load_index(data_dir / "index", embedder=HashEmbedder(384))


def test_killing_the_build_at_random_points_while_saving_leaves_the_old_or_the_new_index(tmp_path):
    data_dir, knowledge = tmp_path / "data", tmp_path / "knowledge"
    # ~2,000 chunks: the save (4 MB written, fsynced, checksummed, re-read to verify, swapped) takes a few
    # hundred ms, long enough for kills at real random times to land in its different steps.
    _write_corpus(knowledge, docs=40, sections=50, seed=1)
    extra = tmp_path / "extra.md"
    extra.write_text(
        "# Extra\n\n## 9.1 Burn rate\n\nA new document: burn rate and runway.\n" * 20, encoding="utf-8"
    )

    # The two complete indexes every kill must leave: old (A, without extra.md) and new (B, with it).
    _finish(_start_build(data_dir, knowledge)[0])
    old = Snapshot.of(_load(data_dir))
    (knowledge / "extra.md").write_bytes(extra.read_bytes())
    proc, saving_at = _start_build(data_dir, knowledge)
    _finish(proc)
    save_window = time.perf_counter() - saving_at  # announcement -> process gone (save + exit)
    new = Snapshot.of(_load(data_dir))
    assert old != new and len(new.chunk_ids) > len(old.chunk_ids)

    rng = random.Random()
    outcomes: list[str] = []
    for kill in range(KILLS):
        before = Snapshot.of(_load(data_dir))
        target = old if before == new else new
        if target == new:
            (knowledge / "extra.md").write_bytes(extra.read_bytes())
        else:
            (knowledge / "extra.md").unlink(missing_ok=True)
        proc, _ = _start_build(data_dir, knowledge)
        time.sleep(rng.uniform(0, save_window))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()

        # Where the kill landed, read from what it left on disk.
        temp_left, index_gone = bool(list(data_dir.glob(".index.tmp-*"))), not (data_dir / "index").exists()
        loaded = _load(data_dir)  # never raises: either index/ or index.prev/ is complete
        after = Snapshot.of(loaded)
        if temp_left:
            step = "writing/verifying the temp folder"
        elif index_gone:
            step = "between the two renames"
        else:
            step = "after the swap" if after == target else "before the temp folder was made"
        assert after in (before, target), f"kill {kill} ({step}): a mix of the old and the new index"
        outcomes.append(f"{'new' if after == target else 'old'} index, killed {step}")
        assert (step == "between the two renames") == bool(loaded.fell_back_from)
        # The app's advisor starts on that same index.
        settings = settings_for_tests(data_dir=data_dir, knowledge_dir=knowledge)
        advisor = build_advisor(settings, generator=ScriptedGenerator(["ok"]))
        assert Snapshot.of(advisor.index) == after
        assert advisor.retrieve("pricing and hiring", k=3)

    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(f"\n{KILLS} kills at random times within {save_window:.2f} s of the save starting:")
    for outcome, count in counts.items():
        print(f"  {count:3d}  {outcome}")
    # Kills landed both before and after the swap, so they really spanned the save.
    assert any(o.startswith("old") for o in outcomes) and any(o.startswith("new") for o in outcomes), counts
    # The next build after all those kills brings the index in line with the folder and cleans up.
    command, env = _build_command(data_dir, knowledge)
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, check=True, timeout=120)
    assert Snapshot.of(_load(data_dir)) == (new if (knowledge / "extra.md").exists() else old)
    assert not list(data_dir.glob(".index.tmp-*"))


# --- corrupt index files ----------------------------------------------------------------------------
def _index_pair(tmp_path: Path) -> tuple[Path, Snapshot, Snapshot]:
    """index/ (new, 6 chunks) over index.prev/ (old, 4 chunks), both written by the real save."""
    embedder = HashEmbedder(384)
    index_dir = tmp_path / "data" / "index"

    def chunks(n: int) -> list[Chunk]:
        return [
            Chunk(f"c{i}", f"d{i}", f"{_WORDS[i]} advice number {i}", f"{i}.1 Topic", f"s{i}.md", "en", 0, 9)
            for i in range(n)
        ]

    VectorIndex.from_chunks(chunks(4), embedder).save(index_dir, {"sources": {}})
    old = Snapshot.of(load_index(index_dir, embedder=embedder))
    VectorIndex.from_chunks(chunks(6), embedder).save(index_dir, {"sources": {}})
    new = Snapshot.of(load_index(index_dir, embedder=embedder))
    return index_dir, old, new


def _damages(size: int, rng: random.Random) -> list[tuple[str, int]]:
    """Truncations (to nothing, one byte, half, all but the last byte) and single-bit flips anywhere."""
    cuts = [("truncate", n) for n in sorted({0, 1, size // 2, size - 1})]
    return cuts + [("flip", rng.randrange(size * 8)) for _ in range(12)]


def _damage(path: Path, how: str, where: int) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        del data[where:]
    else:
        data[where // 8] ^= 1 << (where % 8)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", [FAISS_FILE, CHUNKS_FILE, MANIFEST_FILE])
def test_truncated_or_bit_flipped_index_files_fall_back_or_fail_clearly(tmp_path, name):
    index_dir, old, new = _index_pair(tmp_path)
    pristine = (index_dir / name).read_bytes()
    prev_dir = index_dir.with_name(index_dir.name + PREV_SUFFIX)
    embedder = HashEmbedder(384)
    rng = random.Random(name)
    for how, where in _damages(len(pristine), rng):
        (index_dir / name).write_bytes(pristine)
        _damage(index_dir / name, how, where)
        case = f"{name} {how} at {'byte' if how == 'truncate' else 'bit'} {where}"
        loaded = load_index(index_dir, embedder=embedder)  # index.prev is good: never an error
        got = Snapshot.of(loaded)
        if got == new:
            # Only harmless damage loads: a flip in the manifest's JSON layout (indentation, say)
            # that leaves every value, and so its checksum, intact.
            assert name == MANIFEST_FILE and loaded.fell_back_from is None, case
        else:
            assert got == old and REBUILD_HINT in (loaded.fell_back_from or ""), case
        # Without a previous index the same damage is a clear error naming the fix, never a crash.
        if got == old:
            prev_dir.rename(tmp_path / "aside")
            with pytest.raises(IndexLoadError, match="--rebuild"):
                load_index(index_dir, embedder=embedder)
            (tmp_path / "aside").rename(prev_dir)


def test_a_bit_flip_faiss_would_load_is_caught_by_the_checksum(tmp_path):
    """FAISS reads a flipped bit in a stored vector without complaint: only the manifest's sha256 sees it."""
    import faiss

    index_dir, old, _new = _index_pair(tmp_path)
    faiss_path = index_dir / FAISS_FILE
    data = bytearray(faiss_path.read_bytes())
    data[-5] ^= 0x10  # inside the last vector's float32 values
    faiss_path.write_bytes(bytes(data))
    assert faiss.read_index(str(faiss_path)).ntotal == 6  # FAISS itself is happy
    with pytest.raises(IndexLoadError, match="corrupt"):
        load_index(index_dir, embedder=HashEmbedder(384), fallback=False)
    assert Snapshot.of(load_index(index_dir, embedder=HashEmbedder(384))) == old


def test_the_advisor_refuses_to_start_on_a_corrupt_index_with_no_fallback(tmp_path):
    from advisor.factory import AdvisorSetupError

    index_dir, _old, _new = _index_pair(tmp_path)
    (index_dir.with_name(index_dir.name + PREV_SUFFIX) / CHUNKS_FILE).write_text("{", encoding="utf-8")
    _damage(index_dir / CHUNKS_FILE, "flip", 8 * 20 + 3)
    settings = settings_for_tests(data_dir=index_dir.parent)
    with pytest.raises(AdvisorSetupError, match=r"corrupt.*--rebuild"):
        build_advisor(settings, generator=ScriptedGenerator(["ok"]))


# --- a model that fails to load ------------------------------------------------------------------------
def _bad_models(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    garbage = folder / "garbage.gguf"
    garbage.write_bytes(random.Random(0).randbytes(4096))
    # A real GGUF header (magic, version 3, 291 tensors, 26 metadata pairs) cut off right after it.
    truncated = folder / "truncated.gguf"
    truncated.write_bytes(
        b"GGUF" + (3).to_bytes(4, "little") + (291).to_bytes(8, "little") + (26).to_bytes(8, "little")
    )
    return {"missing": folder / "no-such-model.gguf", "garbage": garbage, "truncated": truncated}


def _app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir(exist_ok=True)
    (knowledge / "pricing.md").write_text("# Notes\n\n## 1 Pricing\n\nCharge for value.\n", encoding="utf-8")
    # A good index, so that only the model can fail.
    build_index(settings_for_tests(data_dir=tmp_path / "data", knowledge_dir=knowledge), progress=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FA_")}
    env.update(
        FA_PROFILE="test", FA_DATA_DIR=str(tmp_path / "data"), FA_KNOWLEDGE_DIR=str(knowledge), **extra
    )
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_one_clear_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-2000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated"])
def test_a_model_that_fails_to_load_gives_one_clear_line_and_a_non_zero_exit(tmp_path, kind):
    model = _bad_models(tmp_path / "models")[kind]
    env = _app_env(tmp_path, FA_LLM_BACKEND="llamacpp", FA_LLM_MODEL=str(model), FA_PORT=str(_free_port()))
    why = {"missing": "not found", "garbage": "not a GGUF model file", "truncated": "truncated or corrupt"}[
        kind
    ]
    for command in (
        [sys.executable, "-m", "advisor", "ask", "How should I price?"],
        [sys.executable, "app.py"],  # must exit, not serve a model-less app
    ):
        result = subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        _assert_one_clear_line(result, "could not be loaded", model.name, why)


def test_the_app_stops_non_zero_when_the_model_fails_its_warm_up(tmp_path):
    """A remote model server that never answers: the model object builds, the warm-up cannot generate."""
    env = _app_env(
        tmp_path,
        FA_LLM_BACKEND="openai",
        FA_LLM_MODEL="qwen",
        FA_LLM_BASE_URL=f"http://127.0.0.1:{_free_port()}/v1",  # nothing listens there
        FA_PORT=str(_free_port()),
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    _assert_one_clear_line(result, "warm-up", "Cannot reach the model server")
    assert time.perf_counter() - started < 90

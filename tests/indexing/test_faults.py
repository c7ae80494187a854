"""Faults: a build killed while saving, corrupt index files, a model that cannot load.

Each check ends in one of two outcomes the founder can live with — the complete old index, the complete
new one, or a clear error that names the fix — and never a mix of two indexes or a silently wrong answer.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from advisor import build_advisor
from advisor.generate import ScriptedGenerator
from bench import fault_injection as fi
from config import PROJECT_ROOT, settings_for_tests
from hostkit import free_port
from indexing import IndexLoadError, load_index
from indexing.embedders import HashEmbedder
from indexing.manifest import CHUNKS_FILE, FAISS_FILE, MANIFEST_FILE
from indexing.store import PREV_SUFFIX

KILLS = 20


# The experiments live in bench.fault_injection, shared with `python -m bench faults`: they run the real
# build, save and load and return what happened; the rules are asserted here.
def test_killing_the_build_at_random_points_while_saving_leaves_the_old_or_the_new_index(tmp_path):
    run = fi.run_kills(tmp_path, KILLS)  # ~3,300 chunks: a save of ~0.2 s
    assert run.new_chunks > run.old_chunks

    for n, kill in enumerate(run.kills):
        # "old": the index before this build; "new": the one it was saving; never a mix of both.
        assert kill.outcome in ("old", "new"), f"kill {n} ({kill.step}): {kill.outcome} {kill.detail}"
        # index/ is only ever missing between the two renames, and only then does loading fall back.
        assert (kill.step == "between the two renames") == kill.fell_back, (n, kill)
        assert kill.advisor_same, f"kill {n}: the app did not start on that same index: {kill.detail}"

    outcomes = [f"{k.outcome} index, killed {k.step}" for k in run.kills]
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(f"\n{KILLS} kills at random times within {run.save_window_s:.2f} s of the save starting:")
    for outcome, count in counts.items():
        print(f"  {count:3d}  {outcome}")
    # Kills landed both before and after the swap, so they really spanned the save.
    assert {k.outcome for k in run.kills} == {"old", "new"}, counts
    # The next build after all those kills brings the index in line with the folder and cleans up.
    assert run.final_build_ok


# --- corrupt index files ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", fi.INDEX_FILES)
def test_truncated_or_bit_flipped_index_files_fall_back_or_fail_clearly(tmp_path, name):
    results = fi.corrupt_index_file(tmp_path, name)  # 4 truncations, 12 bit flips
    assert len(results) == 16
    for r in results:
        if r.outcome == "harmless":
            # Only harmless damage loads: a flip in the manifest's JSON layout (indentation, say)
            # that leaves every value, and so its checksum, intact.
            assert r.file == MANIFEST_FILE, r.case
        else:
            # index.prev is good: never an error, always the old index, with a message naming the fix ...
            assert r.outcome == "fallback", (r.case, r.outcome, r.detail)
            # ... and without a previous index the same damage is a clear error naming it, never a crash.
            assert r.without_prev == "clear error", (r.case, r.without_prev, r.detail)


def test_a_bit_flip_faiss_would_load_is_caught_by_the_checksum(tmp_path):
    """FAISS reads a flipped bit in a stored vector without complaint: only the manifest's sha256 sees it."""
    import faiss

    index_dir, old, _new = fi.make_index_pair(tmp_path / "data")
    faiss_path = index_dir / FAISS_FILE
    data = bytearray(faiss_path.read_bytes())
    data[-5] ^= 0x10  # inside the last vector's float32 values
    faiss_path.write_bytes(bytes(data))
    assert faiss.read_index(str(faiss_path)).ntotal == 6  # FAISS itself is happy
    with pytest.raises(IndexLoadError, match="corrupt"):
        load_index(index_dir, embedder=HashEmbedder(384), fallback=False)
    assert fi.Snapshot.of(load_index(index_dir, embedder=HashEmbedder(384))) == old


def test_the_advisor_refuses_to_start_on_a_corrupt_index_with_no_fallback(tmp_path):
    from advisor.factory import AdvisorSetupError

    index_dir, _old, _new = fi.make_index_pair(tmp_path / "data")
    (index_dir.with_name(index_dir.name + PREV_SUFFIX) / CHUNKS_FILE).write_text("{", encoding="utf-8")
    fi.damage(index_dir / CHUNKS_FILE, "flip", 8 * 20 + 3)
    settings = settings_for_tests(data_dir=index_dir.parent)
    with pytest.raises(AdvisorSetupError, match=r"corrupt.*--rebuild"):
        build_advisor(settings, generator=ScriptedGenerator(["ok"]))


# --- a model that fails to load ------------------------------------------------------------------------
def _assert_one_clear_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, no traceback, exactly one "error: " line, and it says every one of ``needles``."""
    problem = fi.unclear_failure(result.returncode, result.stderr, *needles)
    assert problem is None, problem


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated"])
def test_a_model_that_fails_to_load_gives_one_clear_line_and_a_non_zero_exit(tmp_path, kind):
    model = fi.bad_models(tmp_path / "models")[kind]
    env = fi.app_env(tmp_path, FA_LLM_BACKEND="llamacpp", FA_LLM_MODEL=str(model), FA_PORT=str(free_port()))
    why = fi.MODEL_FAILURE_REASONS[kind]
    for command in (fi.ASK_COMMAND, fi.APP_COMMAND):  # app.py must exit, not serve a model-less app
        result = subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        _assert_one_clear_line(result, "could not be loaded", model.name, why)


def test_the_app_stops_non_zero_when_the_model_fails_its_warm_up(tmp_path):
    """A remote model server that never answers: the model object builds, the warm-up cannot generate."""
    env = fi.app_env(
        tmp_path,
        FA_LLM_BACKEND="openai",
        FA_LLM_MODEL="qwen",
        FA_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        FA_PORT=str(free_port()),
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    _assert_one_clear_line(result, "warm-up", "Cannot reach the model server")
    assert time.perf_counter() - started < 90

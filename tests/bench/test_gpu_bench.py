"""The GPU benchmark and the bandwidth / decode-ceiling helpers.

The whole script runs here in --tiny mode on the CPU (same code paths, tiny shapes); the real small-shape
GPU path runs where CUDA is (marked gpu). The helpers are checked against numbers worked out by hand.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import gpu_bench
from bench.__main__ import main as bench_main
from bench.bandwidth import decode_ceiling_tokens_per_s, measure_memory_bandwidth, weight_bytes_read_per_token

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_script(tmp_path):
    """Run `python -m bench gpu ARGS --strict --out TMP` in a fresh process (torch and dynamo state stay
    out of the test process); return the JSON and Markdown it wrote."""

    def run(*args: str, timeout: int) -> tuple[dict, str]:
        # One thread each for torch / FAISS / OpenMP: teammates share these cores, and the tiny shapes
        # gain nothing from more.
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "gpu", *args, "--strict", "--out", str(tmp_path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        result = json.loads((tmp_path / "gpu_bench.json").read_text(encoding="utf-8"))
        markdown = (tmp_path / "gpu_bench.md").read_text(encoding="utf-8")
        return result, markdown

    return run


def test_tiny_mode_runs_every_section_on_cpu(run_script):
    result, markdown = run_script("--tiny", "--device", "cpu", timeout=150)

    assert result["meta"]["shapes"] == "tiny"
    assert result["bandwidth"]["read_gb_per_s"] > 0 and result["bandwidth"]["copy_gb_per_s"] > 0

    faiss_rows = result["faiss"]
    backends = {row["backend"] for row in faiss_rows}
    assert backends == {"faiss-cpu IndexFlatIP", "torch matmul+topk (cpu)"}
    assert {row["n"] for row in faiss_rows} == set(gpu_bench.TINY.faiss_sizes)
    for row in faiss_rows:  # exact search on both backends: identical top-k ids
        assert row["recall_vs_cpu"] == 1.0, row
        assert row["batch_p50_ms"] > 0 and row["qps"] > 0 and row["single_p50_ms"] > 0

    lm = {(row["quant"], row["mode"]): row for row in result["lm"]}
    assert set(lm) == {
        ("bf16", "eager"),
        ("nf4", "eager"),
        ("bf16", "static (no compile)"),
        ("nf4", "static (no compile)"),
    }
    for row in lm.values():
        assert row["new_tokens"] == gpu_bench.TINY.new_tokens
        assert row["ttft_ms"] > 0 and row["decode_tok_s"] > 0
        assert row["ceiling_tok_s"] == pytest.approx(
            result["bandwidth"]["read_bytes_per_s"] / (row["weight_gb_per_token"] * 1e9)
        )
    assert lm[("nf4", "eager")]["weight_gb_per_token"] < lm[("bf16", "eager")]["weight_gb_per_token"]

    notes = "\n".join(result["notes"])
    assert "torch.compile skipped (no CUDA)" in notes
    assert "failed" not in notes
    assert "| vectors | backend |" in markdown and "| weights | mode |" in markdown


def test_missing_faiss_is_a_clear_line_and_torch_rows_still_run(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now raises ImportError
    shapes = dataclasses.replace(gpu_bench.TINY, faiss_sizes=(300,), batch_queries=8, single_queries=2)
    report = gpu_bench.Report(None, {}, strict=True)

    gpu_bench.bench_faiss(shapes, "cpu", report, gpu_bench.Deadline(60))

    assert any("faiss is not installed" in note for note in report.notes)
    assert [row["backend"] for row in report.faiss] == ["torch matmul+topk (cpu)"]
    assert report.faiss[0]["recall_vs_cpu"] == 1.0  # against numpy's exact top-k
    assert "faiss is not installed" in capsys.readouterr().out


def test_time_budget_skips_with_a_reason():
    report = gpu_bench.Report(None, {}, strict=False)
    gpu_bench.bench_faiss(gpu_bench.TINY, "cpu", report, gpu_bench.Deadline(0))
    assert report.faiss == []
    assert any("skipped" in note and "time budget" in note for note in report.notes)


def test_exact_topk_and_recall():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((50, 8), dtype=np.float32)
    queries = rng.standard_normal((4, 8), dtype=np.float32)
    ids = gpu_bench.exact_topk_ids(base, queries, k=5)
    expected = np.argsort(-(queries @ base.T), axis=1)[:, :5]
    np.testing.assert_array_equal(ids, expected)
    assert gpu_bench.recall_at_k(ids, expected) == 1.0
    shifted = expected.copy()
    shifted[:, 0] = 999  # one of five ids wrong in every query
    assert gpu_bench.recall_at_k(shifted, expected) == pytest.approx(0.8)


def test_full_shapes_refuse_to_run_on_a_cpu():
    with pytest.raises(SystemExit, match="--tiny"):
        gpu_bench.main(["--device", "cpu"])


def test_unknown_section_is_rejected():
    with pytest.raises(SystemExit, match="unknown"):
        gpu_bench.main(["--tiny", "--device", "cpu", "--sections", "faiss,warp"])


# --- bandwidth and the decode ceiling --------------------------------------------------------------------------


def test_decode_ceiling_is_bandwidth_over_bytes_per_token():
    # 1.5B Q4_K_M GGUF: 1,117,320,768 bytes per token; at 30 GB/s that is 26.85 tokens/s at most
    assert decode_ceiling_tokens_per_s(1_117_320_768, 30e9) == pytest.approx(26.85, abs=0.01)
    with pytest.raises(ValueError, match="model_bytes"):
        decode_ceiling_tokens_per_s(0, 30e9)
    with pytest.raises(ValueError, match="bandwidth"):
        decode_ceiling_tokens_per_s(1e9, -1)


def test_cpu_bandwidth_measurement_on_a_small_array():
    bw = measure_memory_bandwidth("cpu", array_bytes=8 << 20, repeats=2, threads=1)
    assert bw.device == "cpu" and bw.array_bytes == 8 << 20 and bw.threads == 1
    assert bw.read_bytes_per_s > 1e8 and bw.copy_bytes_per_s > 1e8  # any machine moves >0.1 GB/s
    assert bw.bytes_per_s == bw.read_bytes_per_s
    with pytest.raises(ValueError, match="Unknown device"):
        measure_memory_bandwidth("tpu")


def _tiny_model(tied: bool):
    import torch

    shape = {**gpu_bench.TINY_LM_SHAPE, "tie_word_embeddings": tied}
    return gpu_bench.build_random_causal_lm(shape, "cpu", torch.bfloat16)


def test_weight_bytes_skip_the_input_embedding_unless_it_is_the_output_head():
    vocab, hidden = gpu_bench.TINY_LM_SHAPE["vocab_size"], gpu_bench.TINY_LM_SHAPE["hidden_size"]
    untied = _tiny_model(tied=False)
    all_bytes = sum(p.numel() * 2 for p in untied.parameters())  # bf16
    assert weight_bytes_read_per_token(untied) == all_bytes - vocab * hidden * 2

    tied = _tiny_model(tied=True)
    assert weight_bytes_read_per_token(tied) == sum(p.numel() * 2 for p in tied.parameters())


def test_full_shapes_are_qwen25_7b():
    import torch

    # on the meta device: shapes only, no memory, so the H200 run's model is checked here
    model = gpu_bench.build_random_causal_lm(gpu_bench.QWEN25_7B_SHAPE, "meta", torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == 7_615_616_512  # Qwen2.5-7B-Instruct's count
    # every weight is read per token except the input embedding table (the head is untied)
    assert weight_bytes_read_per_token(model) == (7_615_616_512 - 152_064 * 3584) * 2


def test_nf4_quantisation_keeps_the_head_and_shrinks_the_rest():
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb
    import torch

    model = _tiny_model(tied=False)
    bf16_bytes = weight_bytes_read_per_token(model)
    head_bytes = model.get_output_embeddings().weight.numel() * 2
    gpu_bench.quantize_nf4_inplace(model, compute_dtype=torch.bfloat16)

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    quantised = [m for m in linears if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantised) == 7 * gpu_bench.TINY_LM_SHAPE["num_hidden_layers"]  # q k v o gate up down
    assert not isinstance(model.get_output_embeddings(), bnb.nn.Linear4bit)
    # 4 bits + one float32 scale per 64 weights = 0.5625 bytes per weight instead of 2
    body_bf16 = (
        bf16_bytes - head_bytes - sum(p.numel() * 2 for n, p in model.named_parameters() if "norm" in n)
    )
    nf4_bytes = weight_bytes_read_per_token(model)
    assert nf4_bytes - (bf16_bytes - body_bf16) == pytest.approx(body_bf16 / 2 * 0.5625, rel=0.01)

    ids = torch.randint(0, gpu_bench.TINY_LM_SHAPE["vocab_size"], (1, 8))
    with torch.inference_mode():
        logits = model(ids).logits
    assert torch.isfinite(logits).all()


def test_bench_cli_prints_bandwidth_and_ceilings(capsys):
    assert (
        bench_main(["bandwidth", "--array-mb", "8", "--repeats", "1", "--model-bytes", "seven-b=4.5e9"]) == 0
    )
    out = capsys.readouterr().out
    assert "memory bandwidth on cpu" in out
    assert "decode ceiling seven-b: 4.500 GB per token" in out
    with pytest.raises(SystemExit, match="NAME=BYTES"):
        bench_main(["bandwidth", "--model-bytes", "seven-b=lots"])


# --- where CUDA is --------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_small_shapes_on_the_gpu(run_script):
    result, _ = run_script("--tiny", "--device", "cuda", timeout=600)
    assert result["meta"]["device"] == "cuda"
    assert result["bandwidth"]["read_gb_per_s"] > 100  # any CUDA GPU's memory beats 100 GB/s
    assert all(row["recall_vs_cpu"] == 1.0 for row in result["faiss"])
    assert "torch matmul+topk (cuda)" in {row["backend"] for row in result["faiss"]}
    modes = {(row["quant"], row["mode"]) for row in result["lm"]}
    assert ("bf16", "static+compile") in modes and ("bf16", "eager") in modes

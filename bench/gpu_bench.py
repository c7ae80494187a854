"""The GPU benchmark: one script, run once on an H200 (no network, < 10 minutes including imports).

    python3 -m bench gpu --out DIR              # the real shapes, on the GPU
    python -m bench gpu --tiny --device cpu     # the same code paths, tiny shapes, on a CPU (tests, CI)

It measures, each against the hardware:

* bandwidth — the device's memory bandwidth (bench/bandwidth.py), the basis of every decode ceiling.
* faiss     — exact inner-product search (IndexFlatIP) on the CPU and, with a FAISS GPU build, on the GPU
  (StandardGpuResources + index_cpu_to_gpu) at 10k / 100k / 1M vectors: build time, batch latency p50 and
  QPS, single-query p50 / p95, and recall of the top-k ids against the CPU index (exact search: 1.0). An
  exact matmul + topk search in torch on the same device runs beside them, so the GPU side is measured even
  where FAISS has no GPU build (the H200 image ships none).
* lm        — a causal LM with Qwen2.5-7B's shapes (the gpu profile's model) and random weights, built from
  a config directly on the device (no hub), in bf16 and in bitsandbytes nf4 (the same weights quantised in
  place), each decoded eagerly and with a static cache + torch.compile(mode="reduce-overhead"): time to
  first token for a 2k-token prompt and decode tokens/s, as a fraction of bandwidth / weight bytes per token.

Missing pieces (faiss, its GPU build, bitsandbytes, CUDA for compile) give a clear line and the rest still
runs; ``--strict`` turns a failing measurement into an error instead (the tests use it). Results are
printed as Markdown tables and, with ``--out``, written to gpu_bench.json and gpu_bench.md after every
section, so a run cut short keeps what it measured. A time budget skips (and says so) what would not fit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.bandwidth import (
    GB,
    Bandwidth,
    decode_ceiling_tokens_per_s,
    measure_memory_bandwidth,
    weight_bytes_read_per_token,
)
from hostkit import DeviceUnavailableError, resolve_device

# Qwen2.5-7B-Instruct's shapes (the gpu profile's model): 7.6 B parameters, 15.2 GB in bf16.
QWEN25_7B_SHAPE: dict[str, Any] = {
    "vocab_size": 152_064,
    "hidden_size": 3584,
    "intermediate_size": 18_944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 32_768,
    "rope_theta": 1_000_000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}
TINY_LM_SHAPE: dict[str, Any] = {
    "vocab_size": 1024,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "tie_word_embeddings": False,
}


@dataclass(frozen=True)
class Shapes:
    """Everything that differs between the real run and ``--tiny``."""

    name: str
    faiss_sizes: tuple[int, ...]
    dim: int  # 1024: bge-m3, the gpu profile's embedder (384 would be the cpu profile's e5-small)
    batch_queries: int
    single_queries: int
    k: int
    search_repeats: int
    lm_shape: dict[str, Any] = field(repr=False)
    prompt_tokens: int
    new_tokens: int
    bandwidth_array_bytes: int
    eager_step_s: float  # rough cost of one LM measurement, for the time budget
    compile_step_s: float
    budget_s: float


FULL = Shapes(
    name="h200",
    faiss_sizes=(10_000, 100_000, 1_000_000),
    dim=1024,
    batch_queries=1024,
    single_queries=50,
    k=10,
    search_repeats=5,
    lm_shape=QWEN25_7B_SHAPE,
    prompt_tokens=2048,
    new_tokens=128,
    bandwidth_array_bytes=4 << 30,
    eager_step_s=45,
    compile_step_s=180,
    budget_s=530,  # the device allows 600 s per command; imports and the write-out need the rest
)
TINY = Shapes(
    name="tiny",
    faiss_sizes=(1_000, 10_000),
    dim=64,
    batch_queries=64,
    single_queries=10,
    k=10,
    search_repeats=3,
    lm_shape=TINY_LM_SHAPE,
    prompt_tokens=64,
    new_tokens=16,
    bandwidth_array_bytes=64 << 20,
    eager_step_s=5,
    compile_step_s=60,
    budget_s=300,
)

FAISS_CPU = "faiss-cpu IndexFlatIP"
LM_PLAN = (("bf16", "eager"), ("nf4", "eager"), ("bf16", "static+compile"), ("nf4", "static+compile"))


# --- bookkeeping ---------------------------------------------------------------------------------------------


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


class Report:
    """Rows per section plus notes (what was skipped and why); saved after every section."""

    def __init__(self, out_dir: Path | None, meta: dict[str, Any], strict: bool) -> None:
        self.out_dir = out_dir
        self.meta = meta
        self.strict = strict
        self.bandwidth: dict[str, Any] | None = None
        self.faiss: list[dict[str, Any]] = []
        self.lm: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        print(f"  ! {message}", flush=True)
        self.notes.append(message)

    def failed(self, what: str, exc: BaseException) -> None:
        if self.strict:
            raise exc
        self.note(f"{what} failed: {type(exc).__name__}: {exc}")

    def fits(self, deadline: Deadline, need_s: float, what: str) -> bool:
        if deadline.left() >= need_s:
            return True
        self.note(
            f"{what} skipped: {deadline.left():.0f} s of the time budget left, it needs ~{need_s:.0f} s"
        )
        return False

    def as_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "bandwidth": self.bandwidth,
            "faiss": self.faiss,
            "lm": self.lm,
            "notes": self.notes,
        }

    def markdown(self) -> str:
        m = self.meta
        lines = [f"Run {m['date_utc']} on {m['device_name']} ({m['shapes']} shapes); {m['versions']}.", ""]
        if self.bandwidth:
            b = self.bandwidth
            lines += [
                f"Memory bandwidth ({b['device']}): read {b['read_gb_per_s']:.0f} GB/s, copy "
                f"{b['copy_gb_per_s']:.0f} GB/s (read+write), {b['array_bytes'] / (1 << 20):.0f} MiB arrays, "
                f"best of {b['repeats']}.",
                "",
            ]
        if self.faiss:
            lines += [*markdown_table(self.faiss, FAISS_COLUMNS), ""]
        if self.lm:
            lines += [*markdown_table(self.lm, LM_COLUMNS), ""]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def save(self) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "gpu_bench.json").write_text(json.dumps(self.as_dict(), indent=2), encoding="utf-8")
        (self.out_dir / "gpu_bench.md").write_text(self.markdown(), encoding="utf-8")


FAISS_COLUMNS = (
    ("n", "vectors", "{:,}"),
    ("backend", "backend", "{}"),
    ("build_s", "build s", "{:.3f}"),
    ("batch_p50_ms", "batch p50 ms", "{:.2f}"),
    ("qps", "QPS", "{:,.0f}"),
    ("single_p50_ms", "1-query p50 ms", "{:.3f}"),
    ("single_p95_ms", "1-query p95 ms", "{:.3f}"),
    ("recall_vs_cpu", "recall vs CPU", "{:.4f}"),
)
LM_COLUMNS = (
    ("quant", "weights", "{}"),
    ("mode", "mode", "{}"),
    ("weight_gb_per_token", "GB read/token", "{:.3g}"),
    ("ttft_ms", "TTFT ms", "{:.1f}"),
    ("decode_tok_s", "decode tok/s", "{:.1f}"),
    ("ceiling_tok_s", "ceiling tok/s", "{:.0f}"),
    ("fraction_of_ceiling", "of ceiling", "{:.1%}"),
)


def markdown_table(rows: list[dict[str, Any]], columns: Iterable[tuple[str, str, str]]) -> list[str]:
    columns = list(columns)
    out = ["| " + " | ".join(title for _, title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [fmt.format(row[key]) if row.get(key) is not None else "—" for key, _, fmt in columns]
        out.append("| " + " | ".join(cells) + " |")
    return out


# --- bandwidth -----------------------------------------------------------------------------------------------


def bench_bandwidth(shapes: Shapes, device: str, report: Report) -> Bandwidth | None:
    try:
        bw = measure_memory_bandwidth(device, array_bytes=shapes.bandwidth_array_bytes)
    except Exception as exc:
        report.failed("bandwidth", exc)
        return None
    report.bandwidth = bw.as_dict()
    print(
        f"bandwidth {bw.device}: read {bw.read_bytes_per_s / GB:.1f} GB/s, copy {bw.copy_bytes_per_s / GB:.1f} GB/s"
    )
    return bw


# --- FAISS vs CPU --------------------------------------------------------------------------------------------


def _unit_rows(rows: int, dim: int, device: str, seed: int) -> np.ndarray:
    """Random L2-normalised float32 vectors, like an embedder's; generated on the GPU when there is one
    (1M x 1024 normals take seconds in numpy)."""
    if device == "cuda":
        import torch

        gen = torch.Generator(device="cuda").manual_seed(seed)
        x = torch.randn(rows, dim, device="cuda", generator=gen)
        return torch.nn.functional.normalize(x, dim=1).cpu().numpy()
    x = np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def recall_at_k(found: np.ndarray, reference: np.ndarray) -> float:
    """Mean share of each query's reference top-k ids that ``found`` also returned (order ignored)."""
    if found.shape != reference.shape:
        raise ValueError(f"shape mismatch: {found.shape} vs {reference.shape}")
    hits = sum(len(set(f.tolist()) & set(r.tolist())) for f, r in zip(found, reference, strict=True))
    return hits / reference.size


def exact_topk_ids(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact inner-product top-k with numpy: the reference when FAISS is not installed."""
    scores = queries @ base.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def _time_search(
    search: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, singles: np.ndarray, repeats: int
) -> dict[str, Any]:
    ids = search(batch)  # warm-up, and the ids to compare
    batch_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        search(batch)
        batch_s.append(time.perf_counter() - start)
    single_s = []
    for i in range(len(singles)):
        start = time.perf_counter()
        search(singles[i : i + 1])
        single_s.append(time.perf_counter() - start)
    p50 = statistics.median(batch_s)
    return {
        "ids": ids,
        "batch_p50_ms": p50 * 1e3,
        "qps": len(batch) / p50,
        "single_p50_ms": statistics.median(single_s) * 1e3,
        "single_p95_ms": float(np.percentile(single_s, 95)) * 1e3,
    }


def _faiss_gpu_count(faiss: Any) -> int:
    if not hasattr(faiss, "StandardGpuResources"):
        return 0
    try:
        return int(faiss.get_num_gpus())
    except Exception:
        return 0


def bench_faiss(shapes: Shapes, device: str, report: Report, deadline: Deadline) -> None:
    try:
        import faiss
    except ImportError as exc:
        faiss = None
        report.note(
            f"faiss is not installed ({exc}): FAISS rows skipped (pip install faiss-cpu or faiss-gpu-cu12)"
        )
    faiss_gpu = faiss is not None and device == "cuda" and _faiss_gpu_count(faiss) > 0
    if faiss is not None and device == "cuda" and not faiss_gpu:
        report.note(
            f"faiss {faiss.__version__} has no GPU support here (a faiss-cpu build, or no GPU visible to it): "
            "FAISS GPU rows skipped; the torch rows measure exact search on the GPU"
        )
    try:
        import torch
    except ImportError as exc:
        torch = None
        report.note(f"torch is not installed ({exc}): torch search rows skipped")

    base = _unit_rows(max(shapes.faiss_sizes), shapes.dim, device, seed=0)
    queries = _unit_rows(shapes.batch_queries + shapes.single_queries, shapes.dim, device, seed=1)
    batch, singles = queries[: shapes.batch_queries], queries[shapes.batch_queries :]
    gpu_resources = faiss.StandardGpuResources() if faiss_gpu else None

    for n in shapes.faiss_sizes:
        if not report.fits(deadline, 60 if n >= 1_000_000 else 10, f"search at {n:,} vectors"):
            break
        xb = base[:n]
        # The exact CPU answer every backend is checked against: FAISS's own CPU index when it ran (its
        # row then reads 1.0 by definition), numpy's otherwise.
        reference: np.ndarray | None = None

        def record(
            backend: str, build_s: float, timing: dict[str, Any], n: int = n, xb: np.ndarray = xb
        ) -> None:
            nonlocal reference
            ids = timing.pop("ids")
            if backend == FAISS_CPU:
                reference = ids
            elif reference is None:
                reference = exact_topk_ids(xb, batch, shapes.k)
            row = {"n": n, "backend": backend, "build_s": build_s, **timing}
            row["recall_vs_cpu"] = recall_at_k(ids, reference)
            report.faiss.append(row)
            print(
                f"  {n:>9,} {backend:<22} build {build_s:.3f} s  batch p50 {row['batch_p50_ms']:.2f} ms  "
                f"1-query p50 {row['single_p50_ms']:.3f} ms  recall {row['recall_vs_cpu']:.4f}",
                flush=True,
            )

        cpu_index = None
        if faiss is not None:
            try:
                start = time.perf_counter()
                cpu_index = faiss.IndexFlatIP(shapes.dim)
                cpu_index.add(xb)
                build_s = time.perf_counter() - start
                timing = _time_search(
                    lambda q, index=cpu_index: index.search(q, shapes.k)[1],
                    batch,
                    singles,
                    shapes.search_repeats,
                )
                record(FAISS_CPU, build_s, timing)
            except Exception as exc:
                report.failed(f"faiss cpu at {n:,}", exc)
        if faiss_gpu and cpu_index is not None:
            try:
                start = time.perf_counter()
                gpu_index = faiss.index_cpu_to_gpu(gpu_resources, 0, cpu_index)
                build_s = time.perf_counter() - start  # the copy of the CPU index to the GPU
                timing = _time_search(
                    lambda q, index=gpu_index: index.search(q, shapes.k)[1],
                    batch,
                    singles,
                    shapes.search_repeats,
                )
                record("faiss-gpu IndexFlatIP", build_s, timing)
            except Exception as exc:
                report.failed(f"faiss gpu at {n:,}", exc)
        if torch is not None:
            try:
                build_s, timing = _torch_exact_search(torch, xb, batch, singles, shapes, device)
                record(f"torch matmul+topk ({device})", build_s, timing)
            except Exception as exc:
                report.failed(f"torch search at {n:,}", exc)
        report.save()


def _torch_exact_search(
    torch: Any, xb: np.ndarray, batch: np.ndarray, singles: np.ndarray, shapes: Shapes, device: str
) -> tuple[float, dict[str, Any]]:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    start = time.perf_counter()
    base = torch.from_numpy(xb).to(device)
    sync()
    build_s = time.perf_counter() - start

    def search(q: np.ndarray) -> np.ndarray:
        scores = torch.from_numpy(q).to(device) @ base.T
        return torch.topk(scores, shapes.k, dim=1).indices.cpu().numpy()  # .cpu() waits for the GPU

    with torch.inference_mode():
        timing = _time_search(search, batch, singles, shapes.search_repeats)
    return build_s, timing


# --- the 7B-shaped LM ----------------------------------------------------------------------------------------


def build_random_causal_lm(shape: dict[str, Any], device: str, dtype: Any) -> Any:
    """A Qwen2 causal LM with random weights, allocated and initialised directly on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(**shape)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    model.eval().requires_grad_(False)
    # Random weights emit EOS whenever they like: with no EOS every run decodes exactly max_new_tokens.
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    model.generation_config.do_sample = False
    return model


def quantize_nf4_inplace(model: Any, compute_dtype: Any) -> Any:
    """Swap every nn.Linear except the output head for a bitsandbytes nf4 Linear4bit holding the same
    weights — what ``from_pretrained(..., quantization_config=BitsAndBytesConfig(load_in_4bit=True,
    bnb_4bit_quant_type="nf4"))`` builds, without writing 15 GB to disk and loading it back.
    The head stays in bf16 and double quantisation stays off, as transformers' defaults do."""
    import bitsandbytes as bnb
    import torch

    head = model.get_output_embeddings()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, torch.nn.Linear) or child is head:
                continue
            quantized = bnb.nn.Linear4bit(
                child.in_features,
                child.out_features,
                bias=child.bias is not None,
                compute_dtype=compute_dtype,
                quant_type="nf4",
                compress_statistics=False,
                device="meta",
            )
            weight = bnb.nn.Params4bit(
                child.weight.data, requires_grad=False, quant_type="nf4", compress_statistics=False
            )
            quantized.weight = weight.to(child.weight.device)  # .to() is where bitsandbytes quantises
            if child.bias is not None:
                quantized.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            setattr(parent, name, quantized)
    return model


def _token_clock(sync: Callable[[], None]) -> Any:
    """A generate() streamer that timestamps every new token (the first put() is the prompt)."""
    from transformers.generation.streamers import BaseStreamer

    class TokenClock(BaseStreamer):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._prompt_seen = False

        def put(self, value: Any) -> None:
            if not self._prompt_seen:
                self._prompt_seen = True
                return
            sync()  # value is already on the host, but be explicit about the GPU having finished
            self.times.append(time.perf_counter())  # batch 1: one token per put()

        def end(self) -> None:
            pass

    return TokenClock()


def time_generation(
    model: Any, prompt: Any, new_tokens: int, *, static_cache: bool, compile: bool, warmups: int
) -> dict[str, float]:
    """Time to first token and decode tokens/s of one greedy generate() (after ``warmups`` runs)."""
    import torch
    from transformers import CompileConfig

    kwargs: dict[str, Any] = {
        "max_new_tokens": new_tokens,
        "attention_mask": torch.ones_like(prompt),
        "do_sample": False,
    }
    if static_cache:
        kwargs["cache_implementation"] = "static"
    if compile:
        # transformers compiles the decode step (torch.compile(model.__call__, mode="reduce-overhead"):
        # CUDA graphs over a static cache); the 2k-token prefill runs eagerly, as it should.
        kwargs["compile_config"] = CompileConfig(mode="reduce-overhead")
    else:
        kwargs["disable_compile"] = True
    on_cuda = prompt.device.type == "cuda"
    sync = torch.cuda.synchronize if on_cuda else (lambda: None)
    with torch.inference_mode():
        for _ in range(warmups):
            model.generate(prompt, **kwargs)
        clock = _token_clock(sync)
        sync()
        start = time.perf_counter()
        out = model.generate(prompt, streamer=clock, **kwargs)
        sync()
    generated = out.shape[-1] - prompt.shape[-1]
    if generated != new_tokens or len(clock.times) != new_tokens:
        raise RuntimeError(f"expected {new_tokens} new tokens, got {generated} ({len(clock.times)} timed)")
    times = clock.times
    return {
        "ttft_ms": (times[0] - start) * 1e3,
        "decode_tok_s": (len(times) - 1) / (times[-1] - times[0]),
        "new_tokens": new_tokens,
        "prompt_tokens": prompt.shape[-1],
    }


def bench_lm(
    shapes: Shapes, device: str, report: Report, deadline: Deadline, bandwidth: Bandwidth | None
) -> None:
    try:
        import torch
        import transformers  # noqa: F401  (checked here so a missing one is a line, not a crash)
    except ImportError as exc:
        report.note(f"LM section skipped: {exc}")
        return
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # an ImportError, or a bitsandbytes build that cannot load on this machine
        nf4_missing = f"bitsandbytes unavailable ({type(exc).__name__}: {exc})"
    else:
        nf4_missing = None

    dtype = torch.bfloat16
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, shapes.lm_shape["vocab_size"], (1, shapes.prompt_tokens), generator=gen).to(
        device
    )
    models: dict[str, Any] = {}
    label = "Qwen2.5-7B-shaped" if shapes is FULL else "tiny Qwen2"

    for quant, mode in LM_PLAN:
        if quant == "nf4" and nf4_missing:
            if mode == "eager":
                report.note(f"nf4 rows skipped: {nf4_missing}")
            continue
        compile = mode != "eager" and device == "cuda"
        if mode != "eager" and not compile:
            report.note(f"{quant} {mode}: torch.compile skipped (no CUDA): the static cache runs eagerly")
        need = shapes.compile_step_s if compile else shapes.eager_step_s
        if not report.fits(deadline, need, f"{quant} {mode}"):
            continue
        try:
            if quant not in models:
                start = time.perf_counter()
                model = build_random_causal_lm(shapes.lm_shape, device, dtype)
                if quant == "nf4":
                    quantize_nf4_inplace(model, compute_dtype=dtype)
                models[quant] = model
                print(
                    f"  built {label} {quant} on {device} in {time.perf_counter() - start:.1f} s", flush=True
                )
            model = models[quant]
            weight_bytes = weight_bytes_read_per_token(model)
            timing = time_generation(
                model,
                prompt,
                shapes.new_tokens,
                static_cache=mode != "eager",
                compile=compile,
                warmups=2 if compile else 1,  # compile, then record the CUDA graphs
            )
        except Exception as exc:
            report.failed(f"{quant} {mode}", exc)
            continue
        row: dict[str, Any] = {
            "model": label,
            "quant": quant,
            "mode": mode if compile or mode == "eager" else "static (no compile)",
            "weight_gb_per_token": weight_bytes / GB,
            **timing,
        }
        if bandwidth is not None:
            row["ceiling_tok_s"] = decode_ceiling_tokens_per_s(weight_bytes, bandwidth.bytes_per_s)
            row["fraction_of_ceiling"] = row["decode_tok_s"] / row["ceiling_tok_s"]
        report.lm.append(row)
        print(
            f"  {quant:<5} {row['mode']:<20} TTFT {row['ttft_ms']:.1f} ms  decode {row['decode_tok_s']:.1f} tok/s"
            + (f"  ({row['fraction_of_ceiling']:.1%} of {row['ceiling_tok_s']:.0f})" if bandwidth else ""),
            flush=True,
        )
        report.save()
    models.clear()
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


# --- entry point ---------------------------------------------------------------------------------------------

SECTIONS = ("bandwidth", "faiss", "lm")


def _versions() -> str:
    found = []
    for name in ("torch", "transformers", "faiss", "bitsandbytes", "numpy"):
        try:
            found.append(f"{name} {__import__(name).__version__}")
        except Exception:
            found.append(f"{name} absent")
    return ", ".join(found)


def _device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tiny", action="store_true", help="tiny shapes: the same code paths in seconds")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu_bench.json and gpu_bench.md")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--budget-s", type=float, default=None, help="time budget (default: 530 real, 300 tiny)"
    )
    parser.add_argument("--strict", action="store_true", help="a failing measurement is an error, not a note")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"--sections: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    try:
        device = resolve_device(args.device)
    except DeviceUnavailableError as exc:
        raise SystemExit(f"--device {args.device}: {exc}; a CPU run wants --tiny too") from exc
    shapes = TINY if args.tiny else FULL
    if device == "cpu" and not args.tiny:
        raise SystemExit("The full shapes (a 7B model, 1M vectors) need a GPU: on a CPU run with --tiny.")
    deadline = Deadline(args.budget_s if args.budget_s is not None else shapes.budget_s)
    meta = {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "device": device,
        "device_name": _device_name(device),
        "shapes": shapes.name,
        "shape_details": {k: v for k, v in asdict(shapes).items() if k != "lm_shape"}
        | {"lm": shapes.lm_shape},
        "host": platform.platform(),
        "python": platform.python_version(),
        "versions": _versions(),
    }
    report = Report(args.out, meta, strict=args.strict)
    print(f"gpu_bench: {shapes.name} shapes on {meta['device_name']}; {meta['versions']}", flush=True)
    if device == "cpu":
        report.note(
            "no CUDA: FAISS GPU and torch.compile are not exercised; CPU figures only test the code paths"
        )

    bandwidth = bench_bandwidth(shapes, device, report) if "bandwidth" in sections else None
    report.save()
    if "faiss" in sections:
        bench_faiss(shapes, device, report, deadline)
    if "lm" in sections:
        if bandwidth is None:
            report.note("no bandwidth figure: LM rows carry no ceiling")
        bench_lm(shapes, device, report, deadline, bandwidth)
    report.meta["wall_s"] = round(time.monotonic() - started, 1)
    report.save()
    print()
    print(report.markdown())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench gpu", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

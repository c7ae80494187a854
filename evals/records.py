"""Where a run's full report goes and what its metadata says about the run.

Full reports (every row, answers, passages, plots) are generated files: they live under the ignored data
folder, one folder per run (``<data_dir>/reports/<kind>/<UTC time>-<commit>/``), never in the tracked tree.
What git keeps is the small baseline made from one of them (evals/baseline.py). The metadata names the
commit, the settings and the machine, so a report found later can be told apart from another without
guessing.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from config import PROJECT_ROOT, Settings


def git_commit(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The checked-out commit and whether the tree had uncommitted changes (None outside a git checkout)."""
    try:
        commit = _git(root, "rev-parse", "HEAD")
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    """What the figures ran on: timings from a 2-core laptop and a server are not comparable."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not every platform reports it
        memory = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
    }


def settings_record(settings: Settings) -> dict[str, Any]:
    """Every setting as JSON (secrets stay masked: pydantic dumps a SecretStr as asterisks)."""
    return json.loads(settings.model_dump_json())


def run_metadata(settings: Settings) -> dict[str, Any]:
    return {"git": git_commit(), "settings": settings_record(settings), "machine": machine()}


def default_run_dir(settings: Settings, kind: str, started: datetime) -> Path:
    """A fresh folder for one run's full report: <data_dir>/reports/<kind>/<UTC time>-<short commit>."""
    commit = git_commit()["commit"]
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    return settings.data_dir / "reports" / kind / (f"{stamp}-{commit[:10]}" if commit else stamp)

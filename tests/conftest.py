"""Fixtures shared by every area. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import pytest

from config import Settings, settings_for_tests
from hostkit import cuda_available


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # GPU tests are skipped only where CUDA is absent, never silently elsewhere.
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (none on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def test_settings(tmp_path) -> Settings:
    """Test profile (fakes, no model), with its own empty data folder."""
    return settings_for_tests(data_dir=tmp_path / "data")

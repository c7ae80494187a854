"""Fixtures for the app tests; the helpers they use live in tests/app/support.py."""

from __future__ import annotations

import pytest

from tests.app.support import make_advisor, web_settings


@pytest.fixture
def app_settings(tmp_path):
    return web_settings(tmp_path / "data")


@pytest.fixture
def advisor(app_settings):
    return make_advisor(app_settings)

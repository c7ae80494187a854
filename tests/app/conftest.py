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


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (Debian's package) for the session; skipped, with the reason, only where
    none can be started."""
    from tests.app.postgres_server import postgres_server, why_unavailable

    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres) -> str:
    """The URL of a new, empty database on the session's server (one per test: no test sees another's)."""
    import uuid

    import psycopg

    name = f"fa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres", autocommit=True
    ) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"

"""The composition root as `python app.py` runs it: cpu profile, the real offline model and index."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app import create_app
from config import Settings


@pytest.mark.slow
def test_the_real_app_answers_over_http_with_its_real_model():
    from indexing import IndexLoadError, build_index, load_index, make_embedder

    settings = Settings(_env_file=None, profile="cpu", llm_max_new_tokens=80)
    try:
        load_index(settings.index_dir, embedder=make_embedder(settings))
    except IndexLoadError:
        build_index(settings)  # a fresh clone: build the index the way `make index` does

    with TestClient(create_app(settings)) as client:  # no advisor handed in: build_advisor(settings)
        health = client.get("/api/health").json()
        assert "qwen2.5-coder-1.5b" in health["model"] and health["device"] == "cpu"
        assert health["index"]["chunks"] > 20

        r = client.post("/api/ask", json={"question": "创业团队需要具备哪些核心能力？"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["language"] == "zh" and body["topic"] == "team" and body["model_id"] == health["model"]
        # Either a cited answer or an honest refusal with its reason: never an uncited answer.
        assert body["citations"] if not body["refused"] else body["refusal_reason"]
        assert all("›" in c["section"] and c["quote"] for c in body["citations"])

"""The composition root as `python app.py` runs it: cpu profile, the real offline model and index."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app import create_app
from config import Settings
from textkit import detect_language


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

        # The playbook covers this (4.1.1 创业团队的核心能力): the real model must answer it, in Chinese,
        # citing the team section; a refusal here is a failure, not an honest answer.
        r = client.post("/api/ask", json={"question": "创业团队需要具备哪些核心能力？"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["language"] == "zh" and body["topic"] == "team" and body["model_id"] == health["model"]
        assert not body["refused"], f"refused a covered question: {body['refusal_reason']}"
        assert detect_language(body["text"]) == "zh" and body["supported_fraction"] > 0, body["text"]
        assert body["citations"] and all("›" in c["section"] and c["quote"] for c in body["citations"])
        assert any("创业团队" in c["section"] for c in body["citations"]), body["citations"]
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", body["text"])}
        assert cited and cited <= {c["n"] for c in body["citations"]}, body["text"]

        # ...and refuse what the knowledge base does not cover, with its reason.
        r = client.post("/api/ask", json={"question": "What is the capital of France?"})
        off = r.json()
        assert r.status_code == 200 and off["refused"] and off["refusal_reason"] and not off["citations"]

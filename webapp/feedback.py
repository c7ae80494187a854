"""Thumbs up / down from the chat, appended as JSON lines (one self-contained record per vote)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class FeedbackLog:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()  # votes from several sessions must not interleave inside a line

    def record(
        self,
        *,
        liked: bool,
        question: str,
        answer: str,
        citations: list[dict[str, Any]],
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "rating": "up" if liked else "down",
            "question": question,
            "answer": answer,
            "citations": citations,
            **(extra or {}),
        }
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        return entry

"""Thumbs up / down from the chat, as vote events in the shared event store (webapp/store.py).

Before the store, votes were appended to <data_dir>/feedback.jsonl. `import_legacy_feedback` reads such a
file into the store once (at start) and renames it to feedback.jsonl.imported.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webapp.events import Event, vote_event
from webapp.store import EventStore, StoreUnavailable

IMPORTED_SUFFIX = ".imported"


class FeedbackLog:
    def __init__(self, store: EventStore, *, keep_text: bool):
        self.store = store
        self.keep_text = keep_text

    def record(self, *, liked: bool, question: str, answer: Any | None, shown_text: str) -> Event:
        """Queue one vote (never waits for the store). `answer` is None when it predates this process."""
        item = vote_event(
            answer, liked=liked, question=question, shown_text=shown_text, keep_text=self.keep_text
        )
        self.store.record(item)
        return item


def import_legacy_feedback(path: Path, store: EventStore, *, keep_text: bool) -> int:
    """Votes of an old feedback.jsonl into the store, once; returns how many.

    The file is renamed first (atomic), so of two processes starting together only one imports it. A
    file without a single vote in the old format is left where it is: it is not ours to move. When the
    store cannot take the votes the file is put back, to be read on the next start.
    """
    if not path.is_file():
        return 0
    votes = _legacy_votes(path, keep_text=keep_text)
    if not votes:
        return 0
    claimed = path.with_name(f"{path.name}.importing-{os.getpid()}")
    try:
        path.rename(claimed)
    except FileNotFoundError:  # another process claimed it first
        return 0
    try:
        store.write_now(votes)
    except StoreUnavailable:
        claimed.rename(path)
        raise
    claimed.rename(path.with_name(path.name + IMPORTED_SUFFIX))
    return len(votes)


def _legacy_votes(path: Path, *, keep_text: bool) -> list[Event]:
    votes = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            moment = datetime.fromisoformat(entry["time"])
            rating = entry["rating"]
        except (ValueError, KeyError, TypeError):
            continue  # not a vote of the old format
        if rating not in ("up", "down"):
            continue
        sections = [c.get("section", "") for c in entry.get("citations") or () if isinstance(c, dict)]
        votes.append(
            Event(
                kind="vote",
                channel="imported",
                time=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
                language=str(entry.get("language") or ""),
                refused=bool(entry.get("refused", False)),
                sections=tuple(dict.fromkeys(s for s in sections if s)),
                thumbs=rating,
                model_id=str(entry.get("model_id") or ""),
                question=str(entry.get("question") or "") if keep_text else None,
                answer=str(entry.get("answer") or "") if keep_text else None,
            )
        )
    return votes

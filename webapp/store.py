"""The shared event store: answers served and thumbs up/down, in one SQL table, through SQLAlchemy.

SQLite in the data folder by default, in WAL mode, so several app processes on one machine write to one
file safely; PostgreSQL (or any SQLAlchemy database) through FA_STORE_URL when replicas on several
machines share it.

Writing never stands between a founder and an answer. `record` puts the event on a bounded line in
memory and returns at once; one writer thread stores what is there, in batches. A store that is down,
full, locked or slow costs events, never answers: an event that cannot be stored (or that finds the line
full) is dropped and counted in `lost`, and `state()` says why, for /api/health. While the store is down
the writer tries it again every few seconds, so health turns back to "ok" on its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from webapp.events import Event

BATCH = 200  # events per insert: one transaction per batch keeps SQLite's lock short
RETRY_S = 5.0  # while down: how often the writer tries the store again
IDLE_S = 60.0  # idle: how often the writer wakes up to purge
PURGE_EVERY_S = 3600.0
SQLITE_NAME = "events.sqlite3"

metadata = MetaData()
events_table = Table(
    "fa_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("time", DateTime(timezone=True), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("channel", String(24), nullable=False),
    Column("replica", String(200), nullable=False),
    Column("language", String(8), nullable=False),
    Column("topic", String(32), nullable=False),
    Column("refused", Boolean, nullable=False),
    Column("refusal_reason", String(32), nullable=False),
    Column("sections", JSON, nullable=False),
    Column("latency_ms", Float),
    Column("first_token_ms", Float),
    Column("thumbs", String(8)),
    Column("model_id", String(200), nullable=False),
    Column("question", Text),
    Column("answer", Text),
)


class StoreConfigError(ValueError):
    """The store URL cannot be used at all (malformed, or no driver for it): a setup error."""


class StoreUnavailable(RuntimeError):
    """The store cannot be read now (a report needs it); the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class StoreState:
    status: str  # "starting" | "ok" | "down"
    backend: str  # "sqlite", "postgresql", ...
    database: str  # the URL without its password
    written: int  # events stored by this process
    lost: int  # events this process could not store (store down or full, line full)
    pending: int  # events waiting for the writer
    error: str  # why the store is down ("" when it is not)
    retention_days: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def make_store_engine(url: str, *, timeout_s: float) -> Engine:
    """An Engine for `url` that never waits long: a short connect timeout, SQLite in WAL mode."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreConfigError(f"The event store URL is not a database URL: {exc}") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": timeout_s})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        connect_args = {"connect_timeout": max(1, round(timeout_s))} if _is_postgresql(parsed) else {}
        return create_engine(
            parsed,
            connect_args=connect_args,
            pool_pre_ping=True,  # a server restarted between two events: reconnect instead of losing one
            pool_size=2,
            max_overflow=2,
            pool_timeout=timeout_s,
        )
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreConfigError(
            f"No database driver for the event store URL {parsed.render_as_string(hide_password=True)!r}: "
            f"{exc}. PostgreSQL needs psycopg (installed with the project; use postgresql+psycopg://)."
        ) from None


def _is_postgresql(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers never block the writer and several processes append to one file safely (a process
    # that finds the file locked waits up to the connection's `timeout` instead of failing at once).
    # synchronous=NORMAL: safe in WAL mode (a power cut can lose the last events, never corrupt the file).
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_folder(url: URL) -> Path | None:
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).parent


class EventStore:
    """Events in, never a wait; a writer thread stores them. One per process."""

    def __init__(
        self,
        url: str,
        *,
        retention_days: int,
        max_pending: int = 10_000,
        timeout_s: float = 3.0,
    ):
        self.engine = make_store_engine(url, timeout_s=timeout_s)
        self.retention_days = retention_days
        self._max_pending = max_pending
        self._pending: deque[Event] = deque()
        self._lock = threading.Condition()
        self._status = "starting"
        self._error = ""
        self._written = 0
        self._lost = 0
        self._in_flight = 0  # taken by the writer, not yet stored or lost
        self._closing = False
        self._ready = False  # the table exists (created or found)
        self._next_purge = 0.0
        self._writer = threading.Thread(target=self._run, name="event-store", daemon=True)
        self._writer.start()

    # --- writing ------------------------------------------------------------------------------
    def record(self, item: Event) -> None:
        """Queue one event. Never blocks and never raises: a full line counts it as lost."""
        with self._lock:
            if self._closing or len(self._pending) >= self._max_pending:
                self._lost += 1
                return
            self._pending.append(item)
            self._lock.notify_all()

    def write_now(self, items: Sequence[Event]) -> None:
        """Store `items` on the calling thread (an import); raises StoreUnavailable when it cannot."""
        try:
            self._ensure_ready()
            self._insert(items)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(_reason(exc)) from None
        with self._lock:
            self._written += len(items)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event is stored or lost (tests, shutdown). False on a timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._pending or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(timeout=left)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Store what is queued (for at most `timeout_s`), stop the writer, close the connections."""
        self.flush(timeout_s)
        with self._lock:
            self._closing = True
            self._lost += len(self._pending)  # still queued after the timeout: the store is too slow
            self._pending.clear()
            self._lock.notify_all()
        self._writer.join(timeout=timeout_s)
        self.engine.dispose()

    def state(self) -> StoreState:
        with self._lock:
            return StoreState(
                status=self._status,
                backend=self.engine.url.get_backend_name(),
                database=self.engine.url.render_as_string(hide_password=True),
                written=self._written,
                lost=self._lost,
                pending=len(self._pending) + self._in_flight,
                error=self._error,
                retention_days=self.retention_days,
            )

    # --- reading ------------------------------------------------------------------------------
    def read(self, since: datetime | None = None) -> list[Event]:
        """Stored events, oldest first (those at or after `since` when given). Raises StoreUnavailable."""
        query = select(events_table).order_by(events_table.c.time, events_table.c.id)
        if since is not None:
            query = query.where(events_table.c.time >= since)
        try:
            self._ensure_ready()
            with self.engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"The event store cannot be read: {_reason(exc)}") from None
        return [_event_from_row(row) for row in rows]

    # --- the writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending and not self._closing and self._status != "starting":
                    # Idle: wake up to try a store that is down again, or to purge old events.
                    self._lock.wait(timeout=RETRY_S if self._status != "ok" else IDLE_S)
                if self._closing and not self._pending:
                    return
                batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
                self._in_flight = len(batch)
            try:
                self._ensure_ready()
                self._insert(batch)
            except Exception as exc:  # a failing store costs events, never the writer
                self._failed(exc, batch)
            else:
                self._came_up(written=len(batch))
                with contextlib.suppress(SQLAlchemyError):  # purging can wait for the next round
                    self._purge_if_due()
            finally:
                with self._lock:
                    self._in_flight = 0
                    self._lock.notify_all()
            # Do not hammer a dead server (one try per event): events queued meanwhile wait for the next
            # try, RETRY_S later, or are dropped, and counted, once the line is full.
            retry_at = time.monotonic() + RETRY_S
            with self._lock:
                while self._status == "down" and not self._closing and time.monotonic() < retry_at:
                    self._lock.wait(timeout=retry_at - time.monotonic())

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        folder = _sqlite_folder(self.engine.url)
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _StoreOSError(exc) from exc
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError:
            # Two processes starting together both see no table and both create it: one of them loses
            # that race with an error although the table now exists. Look once more.
            time.sleep(0.2)
            metadata.create_all(self.engine)
        self._ready = True

    def _insert(self, items: Iterable[Event]) -> None:
        rows = [_row_from_event(item) for item in items]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(insert(events_table), rows)

    def _purge_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        with self.engine.begin() as connection:
            connection.execute(delete(events_table).where(events_table.c.time < cutoff))
        self._next_purge = now + PURGE_EVERY_S

    def _failed(self, exc: BaseException, batch: list[Event]) -> None:
        """A store that is unreachable, locked or full keeps the batch for the next try (as far as the
        line has room); one that refuses the rows themselves drops them (they would fail forever)."""
        with self._lock:
            self._in_flight = 0  # with the counts below, in one step: state() never counts a batch twice
            self._status = "down"
            self._error = _reason(exc)
            if isinstance(exc, TRANSIENT) and not self._closing:
                room = max(0, self._max_pending - len(self._pending))
                self._pending.extendleft(reversed(batch[:room]))
                self._lost += len(batch) - min(room, len(batch))
            else:
                self._lost += len(batch)
        self._ready = False  # the table may be gone with the database: look again when it is back

    def _came_up(self, *, written: int) -> None:
        with self._lock:
            self._in_flight = 0
            self._status = "ok"
            self._error = ""
            self._written += written

    def ping(self) -> None:
        """One round trip to the store (raises SQLAlchemyError); for checks and tests."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))


class _StoreOSError(SQLAlchemyError):
    """The folder of an SQLite store cannot be created (a file in the way, a read-only disk)."""

    def __init__(self, exc: OSError):
        super().__init__(f"cannot create the store's folder: {exc}")


# Failures that pass (a server restarting, a locked or full SQLite file, a folder in the way): the events
# wait for the next try. Anything else (the rows themselves refused) would fail forever.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, _StoreOSError)


def _reason(exc: BaseException) -> str:
    """One line that says why, without the SQL statement and parameters SQLAlchemy appends (they may
    hold question text)."""
    original = getattr(exc, "orig", None)
    message = str(original if original is not None else exc).strip().splitlines()
    first = message[0] if message else type(exc).__name__
    return f"{type(original or exc).__name__}: {first}"[:300]


def _row_from_event(item: Event) -> dict[str, Any]:
    # Cut to the columns' lengths: PostgreSQL refuses a longer value, and the whole batch with it.
    return {
        "time": item.time.astimezone(UTC),
        "kind": item.kind,
        "channel": item.channel[:24],
        "replica": item.replica[:200],
        "language": item.language[:8],
        "topic": item.topic[:32],
        "refused": item.refused,
        "refusal_reason": item.refusal_reason[:32],
        "sections": list(item.sections),
        "latency_ms": item.latency_ms,
        "first_token_ms": item.first_token_ms,
        "thumbs": item.thumbs,
        "model_id": item.model_id[:200],
        "question": item.question,
        "answer": item.answer,
    }


def _event_from_row(row: Any) -> Event:
    moment = row["time"]
    if moment.tzinfo is None:  # SQLite keeps no time zone: every stored time is UTC
        moment = moment.replace(tzinfo=UTC)
    return Event(
        kind=row["kind"],
        channel=row["channel"],
        time=moment,
        language=row["language"],
        topic=row["topic"],
        refused=bool(row["refused"]),
        refusal_reason=row["refusal_reason"],
        sections=tuple(row["sections"] or ()),
        latency_ms=row["latency_ms"],
        first_token_ms=row["first_token_ms"],
        thumbs=row["thumbs"],
        model_id=row["model_id"],
        replica=row["replica"],
        question=row["question"],
        answer=row["answer"],
    )


def open_event_store(settings: Any) -> EventStore:
    """The store the settings describe (SQLite in the data folder unless FA_STORE_URL is set)."""
    return EventStore(
        settings.event_store_url,
        retention_days=settings.store_retention_days,
        max_pending=settings.store_max_pending,
        timeout_s=settings.store_timeout_s,
    )

"""What founders ask: the knowledge-gap report an incubator reads to decide what to add to the knowledge base.

From the event store: questions refused (by topic and reason), answers voted down, the sections answers
cite most and least (sections of the index never cited included), all by ISO week. Written as CSV files
and one self-contained HTML page with plots (`python -m webapp report`), and served at /api/report
behind the API key.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from webapp.events import Event

EXAMPLES_PER_GROUP = 3
TOP_SECTIONS = 10
CSV_NAMES = ("weekly", "refusals", "thumbs_down", "sections")


def week_of(moment: datetime) -> str:
    """ISO week, e.g. '2026-W49' (sorts as text)."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class WeekRow:
    week: str
    answers: int
    refused: int
    thumbs_up: int
    thumbs_down: int
    median_latency_ms: float | None

    @property
    def refusal_rate(self) -> float:
        return self.refused / self.answers if self.answers else 0.0


@dataclass(frozen=True, slots=True)
class RefusalGroup:
    week: str
    topic: str
    reason: str
    count: int
    examples: tuple[str, ...]  # questions, when the store keeps them


@dataclass(frozen=True, slots=True)
class GapReport:
    generated_at: datetime
    since: datetime | None
    weeks: tuple[WeekRow, ...]
    refusals: tuple[RefusalGroup, ...]
    thumbs_down: tuple[Event, ...]
    citations: dict[str, dict[str, int]]  # section -> week -> answers citing it (index sections at 0)

    @property
    def week_labels(self) -> list[str]:
        return [w.week for w in self.weeks]

    def section_totals(self) -> list[tuple[str, int]]:
        """(section, answers citing it), most cited first; ties by name."""
        return sorted(
            ((s, sum(by.values())) for s, by in self.citations.items()), key=lambda t: (-t[1], t[0])
        )

    def most_cited(self, n: int = TOP_SECTIONS) -> list[tuple[str, int]]:
        return [t for t in self.section_totals() if t[1] > 0][:n]

    def least_cited(self, n: int = TOP_SECTIONS) -> list[tuple[str, int]]:
        """The least cited sections, never-cited ones of the index first."""
        return sorted(self.section_totals(), key=lambda t: (t[1], t[0]))[:n]

    def refusals_by_topic_reason(self) -> list[tuple[str, str, int, tuple[str, ...]]]:
        """(topic, reason, count, examples) over all weeks, largest first."""
        counts: Counter[tuple[str, str]] = Counter()
        examples: dict[tuple[str, str], list[str]] = defaultdict(list)
        for group in self.refusals:
            key = (group.topic, group.reason)
            counts[key] += group.count
            examples[key] += [q for q in group.examples if q not in examples[key]]
        return [
            (topic, reason, count, tuple(examples[(topic, reason)][:EXAMPLES_PER_GROUP]))
            for (topic, reason), count in sorted(counts.items(), key=lambda t: (-t[1], t[0]))
        ]


def build_report(
    events: Iterable[Event],
    *,
    index_sections: Iterable[str] = (),
    since: datetime | None = None,
    now: datetime | None = None,
) -> GapReport:
    """The report of `events` (answer and vote events, any order). `index_sections`: every section of the
    knowledge base, so the ones no answer cited show up as the least cited (at 0)."""
    answers: dict[str, list[Event]] = defaultdict(list)
    votes: dict[str, list[Event]] = defaultdict(list)
    for item in events:
        if since is not None and item.time < since:
            continue
        (answers if item.kind == "answer" else votes)[week_of(item.time)].append(item)

    weeks = tuple(
        WeekRow(
            week=week,
            answers=len(answers[week]),
            refused=sum(a.refused for a in answers[week]),
            thumbs_up=sum(v.thumbs == "up" for v in votes[week]),
            thumbs_down=sum(v.thumbs == "down" for v in votes[week]),
            median_latency_ms=_median(a.latency_ms for a in answers[week]),
        )
        for week in sorted(set(answers) | set(votes))
    )

    refusals = []
    for week in sorted(answers):
        groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
        for a in answers[week]:
            if a.refused:
                groups[(a.topic or "other", a.refusal_reason or "unspecified")].append(a)
        for (topic, reason), members in sorted(groups.items()):
            questions = list(dict.fromkeys(a.question for a in members if a.question))
            refusals.append(
                RefusalGroup(week, topic, reason, len(members), tuple(questions[:EXAMPLES_PER_GROUP]))
            )

    citations: dict[str, dict[str, int]] = {section: {} for section in index_sections}
    for week, items in answers.items():
        for a in items:
            for section in a.sections:
                by_week = citations.setdefault(section, {})
                by_week[week] = by_week.get(week, 0) + 1

    down = tuple(v for week in sorted(votes) for v in votes[week] if v.thumbs == "down")
    return GapReport(
        generated_at=now or datetime.now(UTC),
        since=since,
        weeks=weeks,
        refusals=tuple(refusals),
        thumbs_down=down,
        citations=citations,
    )


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def since_weeks(weeks: int, now: datetime | None = None) -> datetime:
    """The start of the report's window: `weeks` weeks back from now."""
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, not {weeks}")
    return (now or datetime.now(UTC)) - timedelta(weeks=weeks)


def index_sections(index_dir: Path) -> list[str]:
    """Every section of the built index, read from its chunks.jsonl (the index's on-disk contract: one
    JSON chunk per line with a `section`); [] when there is no index."""
    path = index_dir / "chunks.jsonl"
    if not path.is_file():
        return []
    sections: dict[str, None] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                section = json.loads(line).get("section")
            except (ValueError, AttributeError):
                continue
            if isinstance(section, str) and section:
                sections[section] = None
    return list(sections)


# --- CSV --------------------------------------------------------------------------------------------


def csv_tables(report: GapReport) -> dict[str, str]:
    """The report as CSV texts: weekly, refusals, thumbs_down, sections (section x week)."""
    tables: dict[str, list[Sequence[Any]]] = {
        "weekly": [
            ("week", "answers", "refused", "refusal_rate", "thumbs_up", "thumbs_down", "median_latency_ms"),
            *(
                (
                    w.week,
                    w.answers,
                    w.refused,
                    f"{w.refusal_rate:.3f}",
                    w.thumbs_up,
                    w.thumbs_down,
                    _num(w.median_latency_ms),
                )
                for w in report.weeks
            ),
        ],
        "refusals": [
            ("week", "topic", "reason", "count", "example_questions"),
            *((g.week, g.topic, g.reason, g.count, " | ".join(g.examples)) for g in report.refusals),
        ],
        "thumbs_down": [
            (
                "time",
                "week",
                "topic",
                "language",
                "refused",
                "refusal_reason",
                "sections",
                "question",
                "answer",
            ),
            *(
                (
                    v.time.isoformat(timespec="seconds"),
                    week_of(v.time),
                    v.topic,
                    v.language,
                    v.refused,
                    v.refusal_reason,
                    " | ".join(v.sections),
                    v.question or "",
                    v.answer or "",
                )
                for v in report.thumbs_down
            ),
        ],
        "sections": [
            ("section", "cited_total", *report.week_labels),
            *(
                (section, total, *(report.citations[section].get(w, 0) for w in report.week_labels))
                for section, total in report.section_totals()
            ),
        ],
    }
    out = {}
    for name, rows in tables.items():
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        out[name] = buffer.getvalue()
    return out


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def write_report(report: GapReport, folder: Path) -> list[Path]:
    """weekly.csv, refusals.csv, thumbs_down.csv, sections.csv and report.html in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in csv_tables(report).items():
        path = folder / f"{name}.csv"
        # utf-8-sig: spreadsheet programs then read the Chinese section names as UTF-8.
        path.write_text(text, encoding="utf-8-sig")
        written.append(path)
    page = folder / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    written.append(page)
    return written


# --- HTML -------------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
margin:2em;color:#222;max-width:72em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;vertical-align:top}
td.n{text-align:right}th{background:#f3f3f7}.note{color:#666;font-size:.9em}img{max-width:100%}
"""


def render_html(report: GapReport, *, csv_links: dict[str, str] | None = None) -> str:
    """One self-contained page (plots inline as PNG). Every text from the store is escaped: questions are
    whatever founders typed."""
    window = f"since {report.since:%Y-%m-%d}" if report.since else "all stored events"
    answers = sum(w.answers for w in report.weeks)
    refused = sum(w.refused for w in report.weeks)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>What founders ask</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>What founders ask · 创业者在问什么</h1>",
        f"<p class='note'>Generated {report.generated_at:%Y-%m-%d %H:%M} UTC, {_e(window)}: "
        f"{answers} answers, {refused} refused, {len(report.thumbs_down)} thumbs-down.</p>",
    ]
    if csv_links:
        links = " · ".join(f"<a href='{_e(url)}'>{_e(name)}.csv</a>" for name, url in csv_links.items())
        parts.append(f"<p class='note'>Download: {links}</p>")
    if not report.weeks:
        parts.append("<p>No events stored in this window yet.</p></body></html>")
        return "".join(parts)

    parts += ["<h2>By week</h2>", _weekly_plot(report), _weekly_table(report)]

    parts.append("<h2>Refused questions, by topic and reason</h2>")
    parts.append(
        "<p class='note'>What the knowledge base could not answer: the first place to look for what to "
        "add. Reasons: weak_retrieval (no passage close enough), not_covered (something asked that no "
        "passage mentions), unsupported (the answer was not backed by its passages), off_topic, "
        "instructions (an attempt to override the advisor's rules).</p>"
    )
    grouped = report.refusals_by_topic_reason()
    if grouped:
        parts.append(_refusal_plot(report))
        parts.append(
            _table(
                ("topic", "reason", "refused", "example questions"),
                [(t, r, c, _Html("<br>".join(_e(q) for q in ex)) or _no_text()) for t, r, c, ex in grouped],
            )
        )
    else:
        parts.append("<p>No question was refused.</p>")

    parts.append("<h2>Thumbs-down answers</h2>")
    if report.thumbs_down:
        rows = [
            (
                f"{v.time:%Y-%m-%d %H:%M}",
                v.topic or "?",
                "refused" if v.refused else "answered",
                _Html("<br>".join(_e(s) for s in v.sections)) or "—",
                v.question or _no_text(),
            )
            for v in report.thumbs_down
        ]
        parts.append(_table(("time (UTC)", "topic", "answer", "cited sections", "question"), rows))
    else:
        parts.append("<p>No answer was voted down.</p>")

    parts.append("<h2>Most cited sections</h2>")
    most = report.most_cited()
    if most:
        parts.append(_sections_plot(most))
        parts.append(_table(("section", "answers citing it"), most))
    else:
        parts.append("<p>No answer cited a section yet.</p>")
    parts.append("<h2>Least cited sections</h2>")
    parts.append(
        "<p class='note'>Sections of the knowledge base that answers rarely or never cite: either "
        "nobody asks about them, or retrieval does not find them.</p>"
    )
    parts.append(_table(("section", "answers citing it"), report.least_cited()))
    parts.append("</body></html>")
    return "".join(parts)


def _no_text() -> _Html:
    return _Html("<span class='note'>(question text not stored: FA_STORE_QUESTION_TEXT)</span>")


def _weekly_table(report: GapReport) -> str:
    rows = [
        (
            w.week,
            w.answers,
            w.refused,
            f"{w.refusal_rate:.0%}",
            w.thumbs_up,
            w.thumbs_down,
            "" if w.median_latency_ms is None else f"{w.median_latency_ms / 1000:.1f} s",
        )
        for w in report.weeks
    ]
    return _table(("week", "answers", "refused", "refusal rate", "👍", "👎", "median latency"), rows)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


class _Html(str):
    """A table cell that is already HTML (built from escaped parts): not escaped again."""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; every cell is escaped unless it is _Html."""
    out = ["<table><tr>", *(f"<th>{_e(h)}</th>" for h in headers), "</tr>"]
    for row in rows:
        cells = []
        for value in row:
            shown = value if isinstance(value, _Html) else _e(value)
            css = " class='n'" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            cells.append(f"<td{css}>{shown}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


# --- plots ------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window: runs on servers
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    # Section names are Chinese: fall back to an installed CJK font for their glyphs.
    installed = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [
        f
        for f in ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "Source Han Sans SC", "SimHei")
        if f in installed
    ]
    plt.rcParams["font.family"] = ["DejaVu Sans", *cjk]
    return plt


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt='plot' src='data:image/png;base64,{data}'>"


def _weekly_plot(report: GapReport) -> str:
    plt = _pyplot()
    labels = report.week_labels
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(labels) + 2), 3))
    xs = range(len(labels))
    width = 0.27
    ax.bar([x - width for x in xs], [w.answers for w in report.weeks], width, label="answers")
    ax.bar(list(xs), [w.refused for w in report.weeks], width, label="refused")
    ax.bar([x + width for x in xs], [w.thumbs_down for w in report.weeks], width, label="thumbs-down")
    ax.set_xticks(list(xs), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    return _png(fig)


def _refusal_plot(report: GapReport) -> str:
    plt = _pyplot()
    grouped = report.refusals_by_topic_reason()
    topics = sorted({t for t, _, _, _ in grouped})
    reasons = sorted({r for _, r, _, _ in grouped})
    counts = {(t, r): c for t, r, c, _ in grouped}
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(topics) + 1.2))
    left = [0] * len(topics)
    for reason in reasons:
        values = [counts.get((t, reason), 0) for t in topics]
        ax.barh(topics, values, left=left, label=reason)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("refused questions")
    ax.legend(fontsize=8)
    return _png(fig)


def _sections_plot(most: Sequence[tuple[str, int]]) -> str:
    plt = _pyplot()
    # The last heading of the path names the section; the table below has the whole path.
    labels = [s.split("›")[-1].strip()[:40] for s, _ in most][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(most) + 1))
    ax.barh(range(len(most)), [c for _, c in most][::-1])
    ax.set_yticks(range(len(most)), labels, fontsize=8)
    ax.set_xlabel("answers citing the section")
    return _png(fig)

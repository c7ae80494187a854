"""English renderings of the knowledge base: every Chinese line translated once by the local model.

Why: given Chinese passages, the 1.5B writes an English answer by translating as it goes, and that is
where English answers went wrong — explanations embellished ("…which allowed them to develop cutting-edge
models like GPT-3"), list items dropped or renamed, and faithful points removed by a gate that cannot
match a free English paraphrase to its Chinese source. Reading the same passages already in English it
copies instead of composing: of seven English questions whose answers readers had marked defective
(incomplete team-building steps, equity incentives removed, embellished culture and innovation lists),
six came back complete, each point a close rendering of its item, nothing removed by the gate (the
seventh, the profit models, still lists one of three: its passages are what is missing).

So an English answer's prompt shows each passage line in English (`render`); everything else — the
gate, the quotes under a citation, the names put back into the playbook's terms — keeps reading the
original Chinese, which stays the ground truth.

The other direction (`target="zh"`) renders an added document's English lines in Chinese, for search
only: the knowledge base's Chinese view (advisor/bilingual.py) lets a Chinese question meet an English
document in its own language. Nothing ships for it (the playbook is Chinese) and no person reviews it.

A line is the unit: a focused passage (focus.py keeps a passage's lead and one list item) is a subset of
its chunk's lines, so it maps to renderings without a second translation. Lines with no Han character
(English documents, code, figures) are their own rendering.

Renderings are made with the model that answers (greedy, English-only tokens) and are valid only for that
model and this prompt: the file names both in its key, and a different key means the lines are made again.
The seed playbook's renderings ship with the code (`SHIPPED`), made by the offline model with this prompt,
so a fresh install answers in English from them at once; added documents' lines are rendered by
`python -m advisor prepare` (about 2 s per line on two cores) and kept under the data folder.

Reviewed renderings (`REVIEWED`) come before the model's: a bilingual reader went through all 275 shipped
lines and rejected 44 — meaning inverted ("The core resources of the startup team are AI large models" for
创业团队是AI大模型创业的核心资源), terms altered (快速发展 "grow sustainably", 整个产业链 "the entire chain",
业绩不佳 "poor performance"), clauses dropped, a "we" added, 万亿美元级别 made "$1 trillion". English answers
copy these lines, so each error was a wrong answer (readers marked four such term errors in the 2026-12-05
run). A reviewed line is a person's translation: it holds whatever model renders the rest, is never
overwritten by `build`, and is not exported as the model's. Each carries the reason it replaced the model's.

The playbook's 111 heading parts ship too (2026-12-06), for search only: English questions meet the
playbook through its English view (advisor/bilingual.py), where a heading left in Chinese is a section
an English question cannot name. A reader corrected 20 of them ("转换器架构" is the Transformer
architecture, not a "Converter"; headings the model turned into sentences with claims). No prompt shows a
heading's rendering, so they change no answer prompt and no knowledge-cache file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from advisor.generate import Generator, stream_in_language
from advisor.prompting import glossary_english, load_template, render_messages
from hostkit import write_json_atomic
from indexing.types import Chunk, Hit
from textkit import has_han

log = logging.getLogger(__name__)

FORMAT = 2  # bump when the line splitting or the file's layout changes
SHIPPED = Path(__file__).with_name("renderings_seed.en.json")
REVIEWED = Path(__file__).with_name("renderings_reviewed.en.json")
TEMPLATE = "render"
_SAVE_EVERY = 20  # lines rendered between saves: a stopped build keeps its work

# What stays verbatim in front of a line: a quote mark, list numbers and bullets, Markdown heading marks.
_MARKER = re.compile(r"^\s*(?:>\s*)?(?:#{1,6}\s+|[-*+]\s+|\d{1,3}[.、)）]\s*)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
TARGETS = ("en", "zh")
# A list item: its bold name, a colon, what the playbook says of it.
_ITEM = re.compile(r"^\*\*(?P<name>[^*\n]+)\*\*\s*[：:]\s*(?P<rest>.+)$")


class Renderings:
    """English renderings of Chinese lines, loaded from the shipped file and the data folder's file."""

    def __init__(
        self,
        path: Path,
        model: str | None,
        *,
        shipped: Path | None = SHIPPED,
        reviewed: Path | None = REVIEWED,
        target: str = "en",
    ):
        """`model` None: every file's lines whatever model made them, for search only (advisor/bilingual.py:
        any faithful rendering finds its passage; an answer prompt needs its own model's). Such renderings
        are never saved. `target`: the language rendered into ("en": Chinese lines; "zh": English ones;
        the shipped and reviewed files are English renderings, for "en" only)."""
        if target not in TARGETS:
            raise ValueError(f"renderings target must be one of {TARGETS}, not {target!r}")
        if target != "en" and (shipped is not None or reviewed is not None):
            raise ValueError(
                "the shipped and reviewed renderings are English: pass shipped=None, reviewed=None"
            )
        self.path = Path(path)
        self.model = model
        self.target = target
        self.key = _key(model, load_template(TEMPLATE, target)) if model is not None else None
        self._lines: dict[str, str] = {}
        self._lock = threading.Lock()
        for source in (shipped, self.path):
            if source is not None:
                self._lines.update(_load(source, self.key))
        self._reviewed = load_reviewed(reviewed) if reviewed is not None else {}

    # --- use ----------------------------------------------------------------------------------------
    def render(self, text: str) -> str:
        """`text` with every Chinese line that has a rendering replaced by it (the others as they are)."""
        out = []
        for line, code in _lines_of(text):
            body = line.strip()
            english = self._english(body) if _is_source(body, self.target) and not code else None
            out.append(line[: len(line) - len(line.lstrip())] + english if english else line)
        return "\n".join(out)

    def chunk(self, chunk: Chunk) -> Chunk:
        """The chunk with its text rendered, as an English prompt (and its knowledge-cache file) shows it."""
        return replace(chunk, text=self.render(chunk.text))

    def for_prompt(self, hits: Sequence[Hit]) -> list[Hit]:
        """The hits with their text rendered: what an English answer's prompt shows (the rest keeps `hits`)."""
        return [replace(h, chunk=self.chunk(h.chunk)) for h in hits]

    def missing(self, texts: Iterable[str]) -> list[str]:
        """The lines of `texts` to render (Chinese ones for "en") that have none yet, each once, in order."""
        return [
            line
            for line in dict.fromkeys(_source_lines(texts, self.target))
            if line not in self._lines and line not in self._reviewed
        ]

    def _english(self, line: str) -> str | None:
        return self._reviewed.get(line) or self._lines.get(line)

    def __len__(self) -> int:
        """How many lines the model has rendered (the reviewed ones are counted by `reviewed`)."""
        return len(self._lines)

    @property
    def reviewed(self) -> int:
        return len(self._reviewed)

    # --- make ---------------------------------------------------------------------------------------
    def build(
        self,
        generator: Generator,
        texts: Iterable[str],
        say: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Render the missing lines of `texts` with `generator` and save them; the number rendered."""
        todo = self.missing(texts)
        if not todo:
            return 0
        if say:
            say(f"{self._name} renderings: {len(todo)} lines to translate once (~2 s each on two CPU cores)")
        done = 0
        for i, line in enumerate(todo, start=1):
            if stop is not None and stop.is_set():
                break
            english = render_line(generator, line, self.target)
            if english:
                with self._lock:
                    self._lines[line] = english
                done += 1
            else:
                log.warning("no faithful %s rendering for %r; the line stays as it is", self._name, line[:40])
            if i % _SAVE_EVERY == 0:
                self.save()
                if say:
                    say(f"{self._name} renderings: {i}/{len(todo)}")
        self.save()
        return done

    def export(self, path: Path, texts: Iterable[str]) -> int:
        """Write the renderings of `texts`' lines (and no others) to `path`, e.g. the shipped file; how many."""
        wanted = set(_source_lines(texts, self.target))
        with self._lock:
            lines = {k: v for k, v in self._lines.items() if k in wanted}
        write_json_atomic(Path(path), self._file(lines))
        return len(lines)

    def save(self) -> None:
        """Write the data folder's file (atomically)."""
        with self._lock:
            lines = dict(self._lines)
        write_json_atomic(self.path, self._file(lines))

    @property
    def _name(self) -> str:
        return "English" if self.target == "en" else "Chinese"

    def _file(self, lines: dict[str, str]) -> dict[str, Any]:
        if self.key is None:
            raise ValueError(
                "renderings loaded for search (any model's lines) cannot be saved as one model's"
            )
        return {"format": FORMAT, "key": self.key, "model": self.model, "lines": lines}


def shipped_renderings() -> Renderings:
    """The English renderings that ship with the code (the model's and the reviewed ones, which win), none of
    a machine's data folder: the same lines everywhere (evals/rendered_sentences.py builds a dataset on them)."""
    return Renderings(SHIPPED, None, shipped=None, reviewed=REVIEWED)


def render_line(generator: Generator, line: str, target: str = "en") -> str:
    """One Chinese line in English (an English one in Chinese for `target` "zh"), or "" when the model's
    line is not a faithful rendering of it.

    The list number or bullet in front stays as it is. A list item "**名称**：解释" is rendered in two parts,
    so that its name can never be lost or merged into the sentence (read whole, the model wrote "OpenAI
    adopted a non-profit model…" for "**创新的商业模式**：OpenAI采用了…"): the name is the glossary's
    English when it has one (the name the grammar, the point names and the evaluation use), else its own
    rendering; the explanation is rendered alone. Faithful means here: one line with no Chinese left, and
    every figure of the source still in it (5000 元 -> 5000 yuan; 10万 -> 100,000 keeps "10").
    """
    marker = _MARKER.match(line).group(0)  # type: ignore[union-attr]  # the pattern matches the empty string
    body = line[len(marker) :].strip()
    if not _is_source(body, target):
        return line
    if target == "zh":  # search only: an item's name needs no glossary form, the line is read whole
        chinese = _translate(generator, body, "zh")
        return marker + chinese if chinese else ""
    item = _ITEM.match(body)
    if item is None:
        english = _translate(generator, body)
        return marker + english if english else ""
    name, rest = item.group("name").strip(), item.group("rest").strip()
    name_en = glossary_english(name) or (
        _translate(generator, name).rstrip(" .:：") if has_han(name) else name
    )
    rest_en = _translate(generator, rest) if has_han(rest) else rest
    if not name_en or not rest_en:
        return ""
    return f"{marker}**{name_en[:1].upper() + name_en[1:]}**: {rest_en}"


def _translate(generator: Generator, text: str, target: str = "en") -> str:
    """The model's English for `text` (greedy, English tokens only; Chinese for `target` "zh"), or "" if
    it is not faithful."""
    # ~1 English token per Chinese character, with room; the model's line ends at its first newline, and
    # what it would write after that (a second version, a comment) is not waited for.
    budget = min(600, 2 * len(text) + 40)
    written = ""
    stop = threading.Event()
    for piece in stream_in_language(generator, render_messages(text, target), budget, 0.0, stop, target):
        written += piece
        if "\n" in written.strip():
            stop.set()
            break
    english = written.strip().split("\n", 1)[0].strip()
    english = re.sub(r"^(?:English\s*:\s*|中文\s*[:：]\s*)", "", english).strip()
    if not english or has_han(english) != (target == "zh"):
        return ""
    digits = re.sub(r"[,\s]", "", english)
    if any(n not in digits for n in _NUMBER.findall(text)):
        return ""
    return english


def load_reviewed(path: Path) -> dict[str, str]:
    """The reviewed renderings of `path` ({} when it is missing); a damaged file is an error, not ignored:
    it ships with the code, and silently falling back would put the rejected renderings back in answers."""
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"reviewed renderings {Path(path).name} are unreadable: {exc}") from exc
    lines = data.get("lines") if isinstance(data, dict) else None
    if not isinstance(lines, dict):
        raise ValueError(f"reviewed renderings {Path(path).name}: expected {{'lines': {{Chinese: entry}}}}")
    out = {}
    for chinese, entry in lines.items():
        english = entry.get("en") if isinstance(entry, dict) else None
        if not isinstance(english, str) or not english.strip() or has_han(english):
            raise ValueError(f"reviewed renderings {Path(path).name}: no English line for {chinese[:30]!r}")
        out[str(chinese).strip()] = english.strip()
    return out


def _source_lines(texts: Iterable[str], target: str) -> Iterable[str]:
    """The lines of `texts` to render into `target`, outside code fences (code stays code)."""
    for text in texts:
        for line, code in _lines_of(text):
            if not code and _is_source(line, target):
                yield line.strip()


def _is_source(line: str, target: str) -> bool:
    """Whether `line` is written in the language other than `target`: Chinese lines (any Han character)
    render into English; into Chinese, lines with no Han character and some English words (not a bare
    figure, code-like token or marker)."""
    if target == "en":
        return has_han(line)
    return not has_han(line) and len(_ENGLISH_WORD.findall(line)) >= 2


def _lines_of(text: str) -> Iterable[tuple[str, bool]]:
    """Each line of `text` with whether it belongs to a fenced code block (the fences included)."""
    fenced = False
    for line in text.split("\n"):
        fence = line.lstrip().startswith(("```", "~~~"))
        yield line, fenced or fence
        if fence:
            fenced = not fenced


def _key(model: str, template: str) -> str:
    return hashlib.sha256(f"format={FORMAT}\nmodel={model}\n{template}".encode()).hexdigest()


def _load(path: Path, key: str | None) -> dict[str, str]:
    """The lines of a renderings file made under `key` (None: any key); {} for a missing, other-key or
    unreadable file."""
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning(
            "renderings file %s is unreadable (%s); its lines will be made again", Path(path).name, exc
        )
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("lines"), dict):
        return {}
    if key is not None and data.get("key") != key:
        return {}
    return {str(k): str(v) for k, v in data["lines"].items() if isinstance(v, str) and v.strip()}

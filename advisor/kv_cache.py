"""The knowledge cache: each passage's answer prompt read once per language and kept as a KV file.

On two CPU cores the model reads a prompt at ~40-70 tokens/s, so an answer's ~500-1,200 prompt tokens
kept founders waiting 5-15 s for the first word; the system prompt (~220 tokens) was the only part
llama.cpp's prompt cache served. So for every chunk of the index and each answer language, the answer
prompt with that chunk as its first passage and no question — system message, the sources header, the
passage under a label it keeps everywhere ("[41]", its position in the index), the instructions — is read
once and llama.cpp's KV cache of it saved to a file (`python -m advisor prepare`). A chunk with siblings
(the other chunks under its parent heading: 5.3.1-5.3.3) also gets a family file: the chunk, then its
siblings in playbook order, then the instructions; and with two siblings, a file with each one alone
(5.3.3 then 5.3.1, 5.3.3 then 5.3.2), since answers read two of a family of three about as often as three.

Per answer, the file whose prompt starts as the answer's does is restored into the model's slot (~0.05 s):
the lead passage's (its best-ranked whole one), or the one holding the siblings that follow it. llama.cpp's
plain prefix match reuses those tokens and reads only the rest: the topic line and the question when the
file covers every passage read, else the other passages too. The model's "[41]" markers turn back into
the answer's 1..n as they stream (answer_format.Relabel).

The instructions sit between the passages and the question (prompts/answer.*.txt), so that a file covers
them. Measured and rejected: the instructions before the passages (the 1.5B then answered from the first
passage whatever the question: "有哪些定价策略" from the pricing case study; English clean rate -0.03 on
the full run); the topic line after the question, last before the answer (the risk line's "以及资料给出的应对
办法" then made the model invent a countermeasure under every risk of a passage that gives none).

Why not one cache of the whole knowledge base with llama.cpp's `n_cache_reuse` (which shifts matching runs
of a restored cache into place, so every passage would be reused): measured on the full evaluation, it
answered in ~1 s but wrongly — a passage's keys and values computed after 10k tokens of other passages
are not the ones the model computes after the prompt's own start, and a 1.5B model read them as noise
(7 of the first 43 Chinese answerable questions refused, answers such as "资料中没有明确…" beside a
passage that says it). A prefix is the same tokens at the same positions: the answer differs from the
full prompt's only by floating-point batch-split effects.

The fixed start of the other model calls (FIXED_PROMPTS: the English question's rendering for retrieval,
the follow-up condensation, the bare system prompt) gets a file of its own in the same build, restored
right before such a call: each call takes the model's one slot, so whatever ran before had evicted it.

A file is used only if its language's manifest lists it with the same key: a hash of the file's prompt
text (its passages, the prompts, the canary), the model file and the llama.cpp build. Anything of that
changed means a different key, so a stale file is never restored, and `prepare` reads again only the files
whose key changed (a new passage, a changed fixed prompt), deleting those of passages no longer indexed;
a truncated or corrupt file fails its size or sha256 check (sha256 the first time a process restores it)
and is rebuilt, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from advisor.generate import Message
from advisor.prompting import (
    LANGUAGES,
    answer_messages,
    answer_start_messages,
    condense_messages,
    estimate_tokens,
    translate_messages,
)
from hostkit import file_sha256, write_json_atomic
from indexing.types import Chunk, Hit

log = logging.getLogger(__name__)

FORMAT = 2  # bump when the knowledge prompt's layout changes in a way the key would not see
_MODEL_HASH_BYTES = 16 << 20  # the GGUF header and first tensors identify a model file well enough
_MARGIN_TOKENS = 1024  # room left in the context for the answer's question and new tokens
_QUESTION_SLOT = "QUESTION-SLOT-0a1f"  # marks where the question goes (plain text: neutralise keeps it)


class PrefixFiles(Protocol):
    """A generator that can save a read prompt's KV cache to a file and restore it (llama.cpp)."""

    prefix_dir: Path | None
    model_path: Path

    def save_prefix(self, messages: Sequence[Message], filename: str) -> int: ...

    def restore_prefix(self, filename: str) -> int: ...


def keeps_prefix_files(generator: Any) -> bool:
    return getattr(generator, "prefix_dir", None) is not None and hasattr(generator, "restore_prefix")


@dataclass(frozen=True)
class Arranged:
    """Passages in prompt order with their stable labels; the first one's file is the prefix to restore."""

    passages: list[Hit]
    labels: list[int]


# The fixed start of the other model calls, one KV file each, built with the language that uses them: the
# English question's Chinese rendering for retrieval (its ~50-token instructions were read anew before
# every English answer, since the answer before had replaced them in the slot), the follow-up
# condensation (~200 tokens of instructions), and the start of an answer read from passages that focus
# has cut to the item asked about (no passage file can be its prefix): system message and instructions,
# which that prompt puts first (prompts/answer_item.*.txt), ~400 tokens read anew before.
FIXED_PROMPTS: dict[str, str] = {  # name -> the language whose build makes it
    "translate": "en",
    "condense-en": "en",
    "condense-zh": "zh",
    "answer-en": "en",
    "answer-zh": "zh",
}


def fixed_messages(name: str, canary: str) -> list[Message]:
    """The messages whose prompt starts as every `name` call's does (no question, no history)."""
    if name == "translate":
        return translate_messages("")
    kind, _, language = name.partition("-")
    if kind == "condense":
        return condense_messages("", [], language)
    if kind == "answer":
        return answer_start_messages(language, canary)
    raise ValueError(f"no fixed prompt named {name!r}")


class KnowledgeCache:
    """Builds, verifies and restores the per-passage, per-language KV files of the answer prompt."""

    def __init__(
        self,
        generator: PrefixFiles,
        chunks: Sequence[Chunk],
        *,
        context_tokens: int,
        canary: str,
        render: Callable[[str, Chunk], Chunk] | None = None,
        families: bool = True,
        sibling_sets: bool = True,
    ):
        if generator.prefix_dir is None:
            raise ValueError("the generator keeps no KV files (prefix_dir is None)")
        self.generator = generator
        self.directory = Path(generator.prefix_dir)
        self.canary = canary
        # The chunk as a language's prompt shows it (English prompts read the English renderings).
        self._render = render or (lambda _language, chunk: chunk)
        # Every chunk keeps its index position as its label, so labels never collide.
        self._label = {c.chunk_id: i for i, c in enumerate(chunks, start=1)}
        # A passage too long for the context (estimated on the safe side) gets no file.
        self._chunks = [
            c
            for c in chunks
            if estimate_tokens(c.section or "") + estimate_tokens(c.text) + _MARGIN_TOKENS <= context_tokens
        ]
        self._by_id = {c.chunk_id: c for c in self._chunks}
        # A chunk's siblings (its family's other chunks, index order = playbook order) when the whole family
        # fits the context: the family file holds the chunk followed by them.
        self._siblings: dict[str, list[Chunk]] = {}
        groups: dict[tuple[str, ...], list[Chunk]] = {}
        for c in self._chunks:
            groups.setdefault(c.family, []).append(c)
        for members in groups.values() if families else ():
            tokens = sum(estimate_tokens(c.section or "") + estimate_tokens(c.text) for c in members)
            if len(members) > 1 and tokens + _MARGIN_TOKENS <= context_tokens:
                for c in members:
                    self._siblings[c.chunk_id] = [m for m in members if m is not c]
        # With `sibling_sets`, a chunk with two siblings also gets a file with each one alone (5.3.3 then 5.3.1;
        # 5.3.3 then 5.3.2): an answer reads two of a family of three as often as all three, and without a
        # file for its pair it read its second passage and the instructions anew (run H: 4.8-5.6 s to the
        # first token against 1.3-1.6 s from a file). Larger families keep the whole-family file only.
        self._sets: dict[str, list[tuple[Chunk, ...]]] = {
            cid: _sibling_sets(siblings, sibling_sets) for cid, siblings in self._siblings.items()
        }
        # Off only to measure what the family files save (bench generation's "lead file only" pass).
        self.use_family_files = True
        self._checked: dict[str, tuple[float, int]] = {}  # file name -> (mtime, size) when its sha256 passed
        self._plans: dict[str, dict[str, tuple[list[Message], str]]] = {}
        self._identity: str | None = None
        self._manifests: dict[str, dict[str, Any]] = {}

    # --- what is cached ------------------------------------------------------------------------------
    def messages(
        self, language: str, chunk: Chunk, *, family: bool = False, following: Sequence[Chunk] = ()
    ) -> list[Message]:
        """The answer prompt with `chunk` as its first passage, followed by `following` (`family`: all its
        siblings) in playbook order, up to where the question goes: what its file holds. What follows the
        question differs in no file, so it is left out (a change there rebuilds nothing)."""
        following = self._siblings.get(chunk.chunk_id, []) if family else following
        passages = [chunk, *following]
        messages = answer_messages(
            _QUESTION_SLOT,
            [Hit(chunk=self._render(language, c), score=0.0, rank=i) for i, c in enumerate(passages, 1)],
            language,
            "other",
            context_tokens=10**9,  # never trimmed: the chunks were chosen to fit
            max_new_tokens=1,
            canary=self.canary,
            labels=[self._label[c.chunk_id] for c in passages],
        )
        user = messages[-1]["content"]
        return [*messages[:-1], {"role": "user", "content": user[: user.index(_QUESTION_SLOT)]}]

    def _plan(self, language: str) -> dict[str, tuple[list[Message], str]]:
        """Every file of a language's build, in build order: name -> (the messages it holds, its key). A key
        changes whenever its file would: its prompt's text, the model file, the llama.cpp build."""
        if language not in self._plans:
            if self._identity is None:
                model = model_identity(Path(self.generator.model_path))
                self._identity = f"{model};format={FORMAT};llama={_package_version('xllamacpp')}"
            plan: dict[str, tuple[list[Message], str]] = {}
            writes = [
                (self.file_name(language, c, following=f), self.messages(language, c, following=f))
                for c, f in self._writes()
            ] + [(self.fixed_file_name(n), fixed_messages(n, self.canary)) for n in self._fixed(language)]
            for name, messages in writes:
                h = hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode("utf-8"))
                h.update(self._identity.encode("utf-8"))
                plan[name] = (messages, h.hexdigest())
            self._plans[language] = plan
        return self._plans[language]

    def key(self, language: str) -> str:
        """One key for a language's whole build (its files' keys together)."""
        return hashlib.sha256("".join(k for _, k in self._plan(language).values()).encode()).hexdigest()

    def refresh(self) -> None:
        """Forget the keys and manifests read so far: what a prompt shows changed (new renderings)."""
        self._plans.clear()
        self._manifests.clear()

    def file_name(self, language: str, chunk: Chunk, *, following: Sequence[Chunk] = ()) -> str:
        """knowledge-zh-0041.bin (the chunk alone), -family (with all its siblings), -with-0040 (with some)."""
        siblings = self._siblings.get(chunk.chunk_id, [])
        if following and [c.chunk_id for c in following] == [c.chunk_id for c in siblings]:
            suffix = "-family"
        elif following:
            suffix = "-with-" + "-".join(f"{self._label[c.chunk_id]:04d}" for c in following)
        else:
            suffix = ""
        return f"knowledge-{language}-{self._label[chunk.chunk_id]:04d}{suffix}.bin"

    def _writes(self) -> list[tuple[Chunk, tuple[Chunk, ...]]]:
        """Every passage file, as (chunk, the siblings after it): a chunk's family file first, then its
        other sibling sets, then its own file. Each leaves in the slot what the next one starts with (the
        chunk and its first sibling; the chunk), so that only the rest is read."""
        writes: list[tuple[Chunk, tuple[Chunk, ...]]] = []
        for chunk in self._chunks:
            writes += [(chunk, following) for following in self._sets.get(chunk.chunk_id, [])]
            writes.append((chunk, ()))
        return writes

    @staticmethod
    def fixed_file_name(name: str) -> str:
        return f"prompt-{name}.bin"

    @staticmethod
    def _fixed(language: str) -> list[str]:
        return [name for name, lang in FIXED_PROMPTS.items() if lang == language]

    def _files(self, language: str) -> list[str]:
        """Every file a language's build writes: one or two per passage, one per fixed prompt."""
        return list(self._plan(language))

    def _manifest_path(self, language: str) -> Path:
        return self.directory / f"knowledge-{language}.json"

    def _manifest(self, language: str) -> dict[str, Any]:
        """The language's manifest (read once per process; {} when missing or unreadable)."""
        if language not in self._manifests:
            manifest = _read_json(self._manifest_path(language))
            if not isinstance(manifest.get("files"), dict):
                manifest = {}
            self._manifests[language] = manifest
        return self._manifests[language]

    def _current(self, language: str, name: str) -> bool:
        """The manifest lists the file with the key its prompt has now."""
        entry = (self._manifest(language).get("files") or {}).get(name)
        planned = self._plan(language).get(name)
        return bool(entry) and planned is not None and entry.get("key") == planned[1]

    # --- build and verify ----------------------------------------------------------------------------
    def ready(self, language: str) -> bool:
        """The manifest lists every file of the language with its current key."""
        return bool(self._chunks) and all(self._current(language, name) for name in self._files(language))

    def ensure(self, languages: Sequence[str] = LANGUAGES, say: Callable[[str], None] | None = None) -> None:
        """Build every file that is missing, stale or damaged (minutes per language on 2 cores when all
        are; a changed prompt or passage rebuilds only the files that hold it)."""
        say = say or log.info
        if not self._chunks:
            say("knowledge cache: no passage fits the context (llm_context_tokens); not built")
            return
        for language in languages:
            stale = [name for name in self._files(language) if not self._intact(language, name)]
            if stale:
                self.build(language, say, only=stale)
            else:
                self._prune(language)

    def _prune(self, language: str) -> None:
        """Delete the files of passages no longer in the index, and their manifest entries."""
        plan = self._plan(language)
        manifest = self._manifest(language)
        listed = manifest.get("files") or {}
        gone = [p for p in self.directory.glob(f"knowledge-{language}-*.bin") if p.name not in plan]
        if not gone and all(name in plan for name in listed):
            return
        kept = {**manifest, "files": {name: entry for name, entry in listed.items() if name in plan}}
        write_json_atomic(self._manifest_path(language), kept)
        self._manifests[language] = kept
        for path in gone:
            path.unlink(missing_ok=True)

    def build(
        self, language: str, say: Callable[[str], None] | None = None, *, only: Sequence[str] | None = None
    ) -> int:
        """Read the prompt of every file (or of those named in `only`) and write its KV file; the manifest
        keeps the others' entries; the tokens read."""
        say = say or log.info
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest_path = self._manifest_path(language)
        plan = self._plan(language)
        wanted = set(plan if only is None else only)
        names = [name for name in plan if name in wanted]
        # The files about to be rewritten leave the manifest first: a crash mid-build leaves them unusable.
        files: dict[str, dict[str, Any]] = {
            name: entry
            for name, entry in (self._manifest(language).get("files") or {}).items()
            if name in plan and name not in names and self._current(language, name)
        }
        self._manifests[language] = {"language": language, "files": dict(files)}
        write_json_atomic(manifest_path, self._manifests[language])
        self._prune(language)  # a passage no longer in the index: its file goes
        say(
            f"reading the knowledge base into the model's cache ({language}, "
            f"{len(names)} of {len(plan)} files)…"
        )
        started = time.perf_counter()
        total = 0
        for name in names:
            messages, key = plan[name]
            tmp = self.directory / f".tmp-{os.getpid()}-{name}"
            try:
                # What the previous file shares with this one is still in the slot: the system prompt, or
                # the passage whose family file came just before.
                tokens = self.generator.save_prefix(messages, tmp.name)
                os.replace(tmp, self.directory / name)
            finally:
                tmp.unlink(missing_ok=True)
            path = self.directory / name
            stat = path.stat()
            files[name] = {"key": key, "tokens": tokens, "bytes": stat.st_size, "sha256": file_sha256(path)}
            self._checked[name] = (stat.st_mtime, stat.st_size)
            total += tokens
        manifest = {
            "key": self.key(language),
            "language": language,
            "files": {name: files[name] for name in plan if name in files},
            "seconds": round(time.perf_counter() - started, 1),
            "model": Path(self.generator.model_path).name,
        }
        write_json_atomic(manifest_path, manifest)
        self._manifests[language] = manifest
        say(
            f"knowledge cache ready ({language}): {len(files)} files, "
            f"{sum(f['bytes'] for f in files.values()) / 1e6:.0f} MB, in {manifest['seconds']} s"
        )
        return total

    def _intact(self, language: str, name: str) -> bool:
        """The file is the one the manifest lists: same size always, same sha256 once per process."""
        entry = (self._manifest(language).get("files") or {}).get(name)
        path = self.directory / name
        try:
            stat = path.stat()
        except OSError:
            return False
        if not entry or not self._current(language, name) or entry.get("bytes") != stat.st_size:
            return False
        if self._checked.get(name) == (stat.st_mtime, stat.st_size):
            return True
        if file_sha256(path) != entry.get("sha256"):
            log.warning("knowledge cache file %s is corrupt (checksum differs); rebuild it", path)
            return False
        self._checked[name] = (stat.st_mtime, stat.st_size)
        return True

    # --- per answer ----------------------------------------------------------------------------------
    def _whole(self, hit: Hit) -> bool:
        """The passage is its chunk as the files hold it (focus may have cut it down to one item)."""
        chunk = self._by_id.get(hit.chunk.chunk_id)
        return chunk is not None and chunk.text == hit.chunk.text

    def arrange(self, passages: Sequence[Hit]) -> Arranged:
        """The passages in rank order, except that the best-ranked one with a file leads (a passage cut by
        focus is not its chunk's text, so its file is no prefix of the prompt); each with its stable label.
        When every other passage is a whole sibling of the lead, they follow it in playbook order, as in
        the lead's family file, so that the file covers them too.

        The lead is kept first because the 1.5B answers from the first passage it reads: leading with the
        longest passage instead put a pricing case study before the list of pricing types, and the full
        evaluation lost answers to that (false refusals 0.036 -> 0.081, key-fact recall 0.853 -> 0.820).
        """
        lead = next((h for h in passages if self._whole(h)), None)
        if lead is None:
            ordered = list(passages)
        else:
            rest = [h for h in passages if h is not lead]
            siblings = [c.chunk_id for c in self._siblings.get(lead.chunk.chunk_id, [])]
            if rest and all(self._whole(h) and h.chunk.chunk_id in siblings for h in rest):
                rest.sort(key=lambda h: siblings.index(h.chunk.chunk_id))
            ordered = [lead, *rest]
        # A passage that is not an index chunk (none is today) still gets a label no chunk has.
        labels = [
            self._label.get(h.chunk.chunk_id) or len(self._label) + 1 + i for i, h in enumerate(ordered)
        ]
        return Arranged(ordered, labels)

    def restore(self, language: str, lead: Hit, following: Sequence[Hit] = ()) -> bool:
        """Load into the model's slot the file whose prompt starts as this answer's does: the lead's file
        with exactly the siblings that follow it when there is one (the prompt then matches through the
        instructions), else the one matching the most passages (5.3.1 and 5.3.2 read with a passage of another
        family: the file with 5.3.2), else the lead's own file (lead and instructions). False (logged) when
        it cannot be used."""
        if not self._whole(lead):
            return False
        chunk = self._by_id[lead.chunk.chunk_id]
        tail = []  # the ids of the whole passages after the lead, up to the first that is not a file's
        for hit in following:
            if not self._whole(hit):
                break
            tail.append(hit.chunk.chunk_id)
        best: tuple[Chunk, ...] = ()
        best_rank = (0, False, 0)
        for option in self._sets.get(chunk.chunk_id, []) if self.use_family_files else []:
            ids = [c.chunk_id for c in option]
            shared = next(
                (i for i, (a, b) in enumerate(zip(ids, tail, strict=False)) if a != b),
                min(len(ids), len(tail)),
            )
            # Most passages matched first; then a file that is exactly the passages read (its instructions
            # are the prompt's too); then the shorter file.
            rank = (shared, shared == len(option) == len(following), -len(option))
            if shared and rank > best_rank:
                best, best_rank = option, rank
        return self._restore(language, self.file_name(language, chunk, following=best))

    def restore_fixed(self, name: str) -> bool:
        """Load a fixed prompt's file (FIXED_PROMPTS) before the call it starts; False when it cannot be."""
        return self._restore(FIXED_PROMPTS[name], self.fixed_file_name(name))

    def _restore(self, language: str, name: str) -> bool:
        if not self.ready(language) or not self._intact(language, name):
            return False
        try:
            self.generator.restore_prefix(name)
        except Exception as exc:  # the answer is still given, only without the cache
            log.warning("knowledge cache %s not restored (%s); reading the prompt instead", name, exc)
            self._checked.pop(name, None)
            return False
        return True


def _sibling_sets(siblings: Sequence[Chunk], every_set: bool) -> list[tuple[Chunk, ...]]:
    """The sibling runs a chunk's files hold after it, in build order: all siblings (the family file), and
    with `every_set` for a chunk with two siblings, each alone (the first, which the family file left in the
    slot, then the second)."""
    if not siblings:
        return []
    sets = [tuple(siblings)]
    if every_set and len(siblings) == 2:
        sets += [(siblings[0],), (siblings[1],)]
    return sets


def model_identity(path: Path, *, named: bool = True) -> str:
    """The model file's size and the sha256 of its first 16 MiB (with its name unless `named` is False:
    what was computed with a model holds for the same bytes under another name or folder)."""
    name = f"{path.name}:" if named else ""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = hashlib.sha256(fh.read(_MODEL_HASH_BYTES)).hexdigest()
    except OSError:
        return f"{path.name}:unreadable"
    return f"{name}{size}:{head}"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

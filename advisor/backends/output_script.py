"""Keep an English answer in English: the vocabulary ids a model must not sample while writing one.

Why: the knowledge base is Chinese, so an English answer is written from Chinese passages, and a small
model (the offline 1.5B) copies Chinese terms into it ("Cost导向定价") or switches to Chinese bullets after an
English lead-in, whatever the prompt says. Masking every token that would write CJK text makes the
English rendering the only path; the Chinese passages are still read, and citations still point into them.
Measured on the offline model: English pricing / risk answers went from mixed-script to clean English.

A token is masked when its bytes decode to text with a CJK ideograph, CJK punctuation or a full-width
form, or when it is an incomplete UTF-8 piece whose lead byte starts one of those ranges (byte-level BPE
spells rare characters byte by byte, so masking only whole characters would leave a way round).
Lead bytes: U+2E80–U+9FFF starts with E2 (from E2 BA 80), E3–E9; full-width forms U+FF00–U+FFEF with EF.
E2 also starts common English punctuation (— “ ” •), so a lone E2 piece stays allowed: the CJK radicals it
would start are rare enough that a model never reaches them byte by byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from textkit import CJK_SCRIPT

_CJK_LEAD_BYTES = frozenset(range(0xE3, 0xEA)) | {0xEF}
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")  # SentencePiece's byte-fallback tokens


@lru_cache(maxsize=1)
def _gpt2_byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode: byte-level BPE vocabularies spell each byte as one char."""
    from gguf.vocab import bytes_to_unicode  # the project's GGUF reader ships the table

    return {char: byte for byte, char in bytes_to_unicode().items()}


def token_bytes(token: str) -> bytes:
    """The bytes a vocabulary entry writes (byte-level BPE, SentencePiece byte tokens, or plain text)."""
    match = _BYTE_TOKEN.fullmatch(token)
    if match:
        return bytes([int(match.group(1), 16)])
    decoder = _gpt2_byte_decoder()
    if token and all(c in decoder for c in token):
        return bytes(decoder[c] for c in token)
    return token.replace("\u2581", " ").encode("utf-8")  # SentencePiece marks a word start with ▁


def writes_cjk(piece: bytes) -> bool:
    """True when emitting this piece would put CJK text into the answer."""
    try:
        return bool(CJK_SCRIPT.search(piece.decode("utf-8")))
    except UnicodeDecodeError:
        return any(b in _CJK_LEAD_BYTES for b in piece)


def cjk_token_ids(vocabulary: Iterable[str], special_ids: Iterable[int] = ()) -> list[int]:
    """Ids of the vocabulary entries that write CJK text (special tokens are never masked)."""
    keep = set(special_ids)
    return [i for i, token in enumerate(vocabulary) if i not in keep and writes_cjk(token_bytes(token))]


# --- GGUF models: read the vocabulary from the file once, cache the id list next to it ------------------

_CACHE_VERSION = 1


def _gguf_vocabulary(model_path: Path) -> tuple[list[str], list[int]]:
    from gguf import GGUFReader  # reading a 150k-entry vocabulary takes ~13 s, hence the cache below

    reader = GGUFReader(str(model_path))
    tokens = reader.fields["tokenizer.ggml.tokens"]
    vocabulary = [bytes(tokens.parts[i]).decode("utf-8") for i in tokens.data]
    special: list[int] = []
    types = reader.fields.get("tokenizer.ggml.token_type")
    if types is not None:
        # 1 = normal; control (3), user-defined (4) and the like are chat-template machinery.
        special = [n for n, i in enumerate(types.data) if int(types.parts[i][0]) not in (1, 6)]
    return vocabulary, special


def gguf_cjk_token_ids(model_path: Path, cache_dir: Path | None = None) -> Sequence[int]:
    """The CJK-writing token ids of a GGUF model, computed once and cached beside it (keyed by size/mtime)."""
    stat = model_path.stat()
    key = {"version": _CACHE_VERSION, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache = (cache_dir or model_path.parent) / f"{model_path.name}.cjk-tokens.json"
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return cached["ids"]
    except (OSError, ValueError, KeyError):
        pass  # no cache yet, or a damaged one: recompute
    vocabulary, special = _gguf_vocabulary(model_path)
    ids = cjk_token_ids(vocabulary, special)
    try:
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "ids": ids}), encoding="utf-8")
        tmp.replace(cache)
    except OSError:
        pass  # a read-only model folder: recompute next time, still correct
    return ids

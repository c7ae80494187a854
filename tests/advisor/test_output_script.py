"""The CJK-token mask that keeps English answers in English (advisor/backends/output_script.py)."""

from __future__ import annotations

import threading

from advisor.backends.output_script import cjk_token_ids, token_bytes, writes_cjk
from advisor.generate import ScriptedGenerator, stream_in_language


def _byte_level(text: str) -> str:
    """Spell text the way a byte-level BPE vocabulary (GPT-2, Qwen) stores it."""
    from advisor.backends.output_script import _gpt2_byte_decoder

    encoder = {b: c for c, b in _gpt2_byte_decoder().items()}
    return "".join(encoder[b] for b in text.encode("utf-8"))


def test_token_bytes_reads_byte_level_sentencepiece_and_plain_entries():
    assert token_bytes(_byte_level("定价")) == "定价".encode()
    assert token_bytes(_byte_level(" price")) == b" price"
    assert token_bytes("<0xE5>") == b"\xe5"
    assert token_bytes("\u2581price") == b" price"


def test_cjk_text_and_the_lead_bytes_of_cjk_characters_are_masked():
    assert writes_cjk("定价".encode())
    assert writes_cjk("，".encode())  # full-width comma
    assert writes_cjk("。".encode())  # CJK punctuation
    assert writes_cjk("定".encode()[:1])  # a byte-by-byte spelling starts with the lead byte
    assert writes_cjk(b"abc" + "价".encode()[:2])
    # English text and the punctuation English uses stay allowed, including pieces of it.
    for allowed in ("price", " cost-based", "—", "“quoted”", "•", "é", "→"):
        assert not writes_cjk(allowed.encode()), allowed
    assert not writes_cjk("—".encode()[:1])  # lone E2 lead byte: dashes and quotes start with it
    assert not writes_cjk("价".encode()[1:])  # continuation bytes alone write nothing


def test_cjk_token_ids_skip_special_tokens():
    vocabulary = [_byte_level(t) for t in ("Hello", " pricing", "定价", "策略", "，", "<|im_end|>")]
    vocabulary.append("<0xE4>")
    assert cjk_token_ids(vocabulary, special_ids=[5]) == [2, 3, 4, 6]
    vocabulary[5] = _byte_level("价")  # a special id is never masked, whatever it spells
    assert 5 not in cjk_token_ids(vocabulary, special_ids=[5])


class _LanguageAwareFake(ScriptedGenerator):
    constrains_output_language = True

    def __init__(self):
        super().__init__(["ok"])
        self.languages: list[str | None] = []

    def stream(self, messages, max_new_tokens, temperature, stop_event=None, *, language=None):
        self.languages.append(language)
        return super().stream(messages, max_new_tokens, temperature, stop_event)


def test_stream_in_language_tells_only_generators_that_can_hold_a_language():
    aware = _LanguageAwareFake()
    assert "".join(stream_in_language(aware, [{"role": "user", "content": "q"}], 5, 0.0, None, "en")) == "ok"
    assert aware.languages == ["en"]
    plain = ScriptedGenerator(["fine"])  # the plain contract: no language keyword
    stop = threading.Event()
    assert (
        "".join(stream_in_language(plain, [{"role": "user", "content": "q"}], 5, 0.0, stop, "en")) == "fine"
    )

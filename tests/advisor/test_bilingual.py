"""The index's views in the other language (advisor/bilingual.py): an English question finds a Chinese chunk
through its English rendering and a Chinese question an English chunk through its Chinese one, the hit is
the original chunk, prepare renders what the views need, and the views' vectors are kept on disk, made
again when stale or damaged, never loaded then."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest

from advisor.bilingual import index_view, render_chunk, texts_to_render
from advisor.generate import ScriptedGenerator
from advisor.lexical import LexicalIndex, tokenize
from advisor.renderings import Renderings, render_line
from advisor.retrieve import HybridRetriever
from advisor.view_vectors import MANIFEST_FILE, VECTORS_FILE, cached_vectors, text_key
from indexing import HashEmbedder
from tests.advisor.support import CORPUS, RISK, make_chunks

RISK_TEXT = dict(CORPUS)[RISK]
# The English lines of the risk section and its heading, as `python -m advisor prepare` would leave them.
ENGLISH = {
    "创业风险识别包括以下几个方面：": "Identifying startup risks covers the following aspects:",
    "- **技术风险**：识别和评估AI大模型技术方面的风险，如模型性能不稳定、算法失效等。": "- **Technical risk**: "
    "identify and assess the technical risks of large AI models, such as unstable model performance.",
    "- **资金风险**：识别和评估资金方面的风险，如资金不足、资金链断裂等。": "- **Funding risk**: identify and "
    "assess funding risks, such as running out of money or a broken funding chain.",
    "9.3.1 创业风险识别": "9.3.1 Identifying startup risks",
}
QUESTION = "How do I identify funding risks and technical risks of my startup?"


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting the passages it embeds (a view read from disk embeds none)."""

    def __init__(self):
        super().__init__()
        self.passages = 0

    def embed(self, texts, kind="passage"):
        if kind == "passage":
            self.passages += len(texts)
        return super().embed(texts, kind)


def write_renderings(path, lines, key="another-models-key"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": 2, "key": key, "model": "m", "lines": lines}), encoding="utf-8")


def search_renderings(tmp_path, lines=ENGLISH) -> Renderings:
    write_renderings(tmp_path / "renderings" / "en.json", lines)
    return Renderings(tmp_path / "renderings" / "en.json", None, shipped=None, reviewed=None)


def view_source(index, embedder, tmp_path, lines=ENGLISH):
    return lambda: (index_view(index, embedder, search_renderings(tmp_path, lines), tmp_path / "views"),)


# --- what the view shows ---------------------------------------------------------------------------------


def test_a_chunk_and_its_headings_are_shown_in_english_where_a_rendering_exists(tmp_path):
    risk = next(c for c in make_chunks() if c.section == RISK)
    shown = render_chunk(search_renderings(tmp_path), risk)
    assert shown.section.endswith("› 9.3.1 Identifying startup risks")
    assert shown.section.startswith("AI大模型创业的建议与启示")  # a heading with no rendering stays Chinese
    assert "**Funding risk**" in shown.text and "**法律风险**" in shown.text  # so does a line
    assert shown.chunk_id == risk.chunk_id
    added = replace(risk, source="风险手册.md")
    assert "9.3.1 创业风险识别" in list(texts_to_render([added]))  # prepare renders an added one's headings
    assert list(texts_to_render([risk])) == [risk.text]  # not the shipped playbook's (see texts_to_render)


def test_a_chunks_document_title_is_shown_and_rendered_with_it(tmp_path):
    risk = replace(next(c for c in make_chunks() if c.section == RISK), title="9.3.1 创业风险识别")
    assert render_chunk(search_renderings(tmp_path), risk).title == "9.3.1 Identifying startup risks"
    added = replace(risk, source="风险手册.md", title="风险手册")
    assert "风险手册" in list(texts_to_render([added]))


def test_no_rendering_no_view(tmp_path, index, embedder):
    assert index_view(index, embedder, search_renderings(tmp_path, {}), tmp_path / "views") is None


# --- retrieval through the view --------------------------------------------------------------------------


def test_an_english_question_finds_the_chinese_chunk_through_its_rendering_and_gets_the_original(
    tmp_path, index, embedder, fake_settings
):
    settings = fake_settings.model_copy(update={"bilingual_views": True})
    plain = HybridRetriever(index, embedder, settings).retrieve(QUESTION, k=3)
    viewed = HybridRetriever(index, embedder, settings, views=view_source(index, embedder, tmp_path))
    found = viewed.retrieve(QUESTION, k=3)
    assert plain.hits[0].chunk.section != RISK  # English words meet nothing in the Chinese chunks
    assert found.hits[0].chunk.section == RISK
    assert found.hits[0].chunk.text == RISK_TEXT  # the original Chinese chunk: the gate reads it
    assert found.best_dense > plain.best_dense  # a same-language cosine, through the rendering
    assert found.lexical_match is True


def test_a_view_serves_only_questions_in_its_own_language(tmp_path, index, embedder, fake_settings):
    settings = fake_settings.model_copy(update={"bilingual_views": True})
    plain = HybridRetriever(index, embedder, settings).retrieve("创业风险有哪些？", k=6)
    viewed = HybridRetriever(index, embedder, settings, views=view_source(index, embedder, tmp_path))
    found = viewed.retrieve("创业风险有哪些？", k=6)
    assert [(h.chunk.chunk_id, h.score) for h in found.hits] == [
        (h.chunk.chunk_id, h.score) for h in plain.hits
    ]
    assert found.best_dense == plain.best_dense


def test_the_view_is_made_again_from_new_renderings_on_disk(tmp_path, index, embedder, fake_settings):
    settings = fake_settings.model_copy(update={"bilingual_views": True})
    lines = {"常见的定价策略包括以下几种：": "Common pricing strategies include the following:"}
    retriever = HybridRetriever(
        index, embedder, settings, views=view_source(index, embedder, tmp_path, lines)
    )
    assert [v.rendered for v in retriever.views] == [1]
    assert retriever.retrieve(QUESTION, k=1).hits[0].chunk.section != RISK
    write_renderings(tmp_path / "renderings" / "en.json", {**lines, **ENGLISH})  # prepare rendered more
    retriever._view_source = view_source(index, embedder, tmp_path, {**lines, **ENGLISH})
    retriever.refresh_views()
    assert [v.rendered for v in retriever.views] == [2]
    assert retriever.retrieve(QUESTION, k=1).hits[0].chunk.section == RISK


def test_the_factory_searches_the_data_folders_renderings_whatever_model_made_them(
    make_fake_advisor, fake_settings
):
    write_renderings(fake_settings.renderings_path, ENGLISH)
    advisor, _ = make_fake_advisor(bilingual_views=True)
    assert [v.language for v in advisor.retriever.views] == ["en"]  # no English line: no Chinese view
    assert advisor.describe()["retrieval"]["view_chunks"]["en"] >= 1
    assert advisor.retrieve(QUESTION, k=1)[0].chunk.text == RISK_TEXT
    assert (fake_settings.index_views_dir / "en" / VECTORS_FILE).is_file()
    off, _ = make_fake_advisor(bilingual_views=False)
    assert off.retriever.views == ()


def test_auto_searches_the_english_view_of_the_chinese_playbook_and_says_why(
    make_fake_advisor, fake_settings
):
    write_renderings(fake_settings.renderings_path, ENGLISH)
    advisor, _ = make_fake_advisor(bilingual_views="auto")
    assert [v.language for v in advisor.retriever.views] == ["en"]  # no English line: no Chinese view
    described = advisor.describe()["retrieval"]["bilingual_views"]
    assert described["on"] is True and described["setting"] == "auto"
    assert described["reason"].startswith("auto: English questions meet the Chinese chunks")
    assert advisor.retrieve(QUESTION, k=1)[0].chunk.text == RISK_TEXT
    assert list(advisor.texts_to_render()) == [c.text for c in advisor.index.chunks]  # its headings ship


def test_auto_searches_the_views_of_an_index_in_both_languages(mixed_index, embedder, fake_settings):
    from advisor import build_advisor

    write_renderings(fake_settings.renderings_path, ENGLISH)
    settings = fake_settings.model_copy(update={"bilingual_views": "auto"})
    advisor = build_advisor(
        settings, generator=ScriptedGenerator(("",)), embedder=embedder, index=mixed_index
    )
    assert [v.language for v in advisor.retriever.views] == ["en"]  # no Chinese rendering made yet
    assert advisor.chinese_renderings is not None  # prepare will make them
    described = advisor.describe()["retrieval"]["bilingual_views"]
    assert described["on"] and described["languages"]["en"] == 1
    assert described["reason"].startswith("auto: the index holds chunks in both languages")
    assert advisor.retrieve(QUESTION, k=1)[0].chunk.text == RISK_TEXT
    forced_off = build_advisor(
        fake_settings, generator=ScriptedGenerator(("",)), embedder=embedder, index=mixed_index
    )
    assert (
        forced_off.retriever.views == () and not forced_off.describe()["retrieval"]["bilingual_views"]["on"]
    )


# --- the vectors kept on disk ----------------------------------------------------------------------------


def rendered_chunks(tmp_path):
    renderings = search_renderings(tmp_path)
    return [render_chunk(renderings, c) for c in make_chunks()]


def test_vectors_are_embedded_once_and_read_back(tmp_path):
    chunks, embedder = rendered_chunks(tmp_path), CountingEmbedder()
    first = cached_vectors(tmp_path / "views", chunks, embedder, batch_size=4)
    assert embedder.passages == len(chunks)
    again = cached_vectors(tmp_path / "views", chunks, embedder, batch_size=4)
    assert embedder.passages == len(chunks)  # nothing embedded again
    np.testing.assert_array_equal(first, again)


def test_only_new_texts_are_embedded_and_another_embedder_makes_every_row_stale(tmp_path):
    chunks, embedder = rendered_chunks(tmp_path), CountingEmbedder()
    folder = tmp_path / "views"
    first = cached_vectors(folder, chunks, embedder, batch_size=4)
    changed = [*chunks[:-1], replace(chunks[-1], text=chunks[-1].text + " (reviewed)")]
    again = cached_vectors(folder, changed, embedder, batch_size=4)
    assert embedder.passages == len(chunks) + 1  # one new text: one row embedded
    np.testing.assert_array_equal(first[:-1], again[:-1])
    assert not np.array_equal(first[-1], again[-1])
    assert json.loads((folder / MANIFEST_FILE).read_text())["texts"] == [text_key(c) for c in changed]

    class OtherEmbedder(CountingEmbedder):
        def __init__(self):
            super().__init__()
            self.model_id = "another-384"

    other = OtherEmbedder()
    cached_vectors(folder, changed, other, batch_size=4)
    assert other.passages == len(chunks)


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / VECTORS_FILE).write_bytes((folder / VECTORS_FILE).read_bytes()[:-16]),
        lambda folder: (folder / VECTORS_FILE).write_bytes(b"garbage"),
        lambda folder: (folder / VECTORS_FILE).unlink(),
        lambda folder: (folder / MANIFEST_FILE).write_text("{not json", encoding="utf-8"),
        # Vectors of the right shape and a manifest that vouches for them, but not finite: never used.
        lambda folder: _resealed(folder, np.full((6, 384), np.nan, np.float32)),
    ],
    ids=["truncated", "garbage", "missing", "bad-manifest", "nan"],
)
def test_damaged_vectors_are_never_loaded_and_are_made_again(tmp_path, damage):
    chunks, embedder = rendered_chunks(tmp_path), CountingEmbedder()
    folder = tmp_path / "views"
    good = cached_vectors(folder, chunks, embedder, batch_size=4)
    damage(folder)
    again = cached_vectors(folder, chunks, embedder, batch_size=4)
    assert embedder.passages == 2 * len(chunks)
    np.testing.assert_array_equal(good, again)
    cached_vectors(folder, chunks, embedder, batch_size=4)  # and the rewritten files are good again
    assert embedder.passages == 2 * len(chunks)


def _resealed(folder, vectors):
    from hostkit import file_sha256

    np.save(folder / VECTORS_FILE, vectors, allow_pickle=False)
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["sha256"] = file_sha256(folder / VECTORS_FILE)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")


def test_the_view_embeds_only_the_chunks_it_shows_differently(tmp_path, chunks):
    embedder = CountingEmbedder()
    from indexing import VectorIndex

    index = VectorIndex.from_chunks(chunks, embedder)
    embedder.passages = 0
    view = index_view(index, embedder, search_renderings(tmp_path), tmp_path / "views")
    assert view is not None and view.rendered == embedder.passages == 1
    unchanged = [i for i, c in enumerate(chunks) if c.section != RISK]
    np.testing.assert_array_equal(view.vectors[unchanged], index.vectors()[unchanged])


# --- the pieces it is made of ----------------------------------------------------------------------------


def test_an_index_view_compares_english_words_by_their_stems(chunks):
    assert tokenize("pricing strategies", stem=True) == tokenize("price strategy", stem=True)
    assert tokenize("pricing strategies") != tokenize("price strategy")  # the original index: exact words
    english = [replace(chunks[0], text="Funding risks and pricing", section="Money")]
    assert LexicalIndex(english, stem=True).search("How is a price set?", 1)
    assert not LexicalIndex(english).search("How is a price set?", 1)


def test_bm25_matches_a_chunks_document_title(chunks):
    # The title is searched with every chunk (indexing's search_text), not only with the document's intro.
    titled = [
        replace(chunks[0], text="Four steps over two weeks.", section="The Loop", title="Hiring Engineers")
    ]
    assert LexicalIndex(titled).search("hiring engineers", 1)
    assert not LexicalIndex([replace(titled[0], title="")]).search("hiring engineers", 1)


def test_search_renderings_read_any_models_file_and_are_never_saved(tmp_path):
    renderings = search_renderings(tmp_path)
    assert "Technical risk" in renderings.render(RISK_TEXT)
    assert len(Renderings(tmp_path / "renderings" / "en.json", "model-a", shipped=None, reviewed=None)) == 0
    with pytest.raises(ValueError, match="cannot be saved"):
        renderings.save()


# --- the other direction: an English document's Chinese view ----------------------------------------------

SAFE_SECTION = "SAFE Notes › Valuation Cap"
SAFE_TEXT = "A valuation cap sets the highest valuation at which the SAFE converts into shares."
SAFE_ZH = "估值上限规定了SAFE转换为股份时的最高估值。"
SAFE_HEADING_ZH = "估值上限"


class ChineseTranslator(ScriptedGenerator):
    """Answers a Chinese rendering prompt with the line's Chinese from a table ("" for lines it does not know)."""

    model_id = "fake-translator"

    def __init__(self, chinese):
        super().__init__(self._reply)
        self.chinese = chinese

    def _reply(self, messages):
        line = re.search(r"^英文：(.*)$", messages[-1]["content"], flags=re.M).group(1)
        return self.chinese.get(line, "")


@pytest.fixture
def mixed_index(chunks, embedder):
    from indexing import VectorIndex

    safe = replace(
        chunks[0],
        chunk_id="safe:0-80",
        doc_id="safe",
        text=SAFE_TEXT,
        section=SAFE_SECTION,
        source="safe_notes.txt",
        lang="en",
    )
    return VectorIndex.from_chunks([*chunks, safe], embedder)


@pytest.mark.parametrize("setting", [True, "auto"])
def test_prepare_renders_english_lines_in_chinese_and_a_chinese_question_then_finds_the_english_document(
    mixed_index, embedder, fake_settings, setting
):
    from advisor import build_advisor

    settings = fake_settings.model_copy(update={"bilingual_views": setting})
    translator = ChineseTranslator({SAFE_TEXT: SAFE_ZH, "Valuation Cap": SAFE_HEADING_ZH})
    advisor = build_advisor(settings, generator=translator, embedder=embedder, index=mixed_index)
    question = "估值上限是什么意思？"

    def safe_hit():
        return next(h for h in advisor.retrieve(question, k=10) if h.chunk.source == "safe_notes.txt")

    before = safe_hit()  # found by the hash embedder's dense leg alone (BM25 shares no Chinese word with it)
    advisor.prepare_knowledge_cache()
    assert "zh" in [v.language for v in advisor.retriever.views]  # made from the new renderings at once
    after = safe_hit()
    assert after.rank == 1 and after.score > before.score  # now a same-language match too
    assert after.chunk.text == SAFE_TEXT  # the English original
    made = json.loads(settings.chinese_renderings_path.read_text(encoding="utf-8"))["lines"]
    assert made == {SAFE_TEXT: SAFE_ZH, "Valuation Cap": SAFE_HEADING_ZH}  # "SAFE Notes" had no rendering


@pytest.mark.parametrize(
    ("line", "reply", "rendered"),
    [
        ("Raise 12 months of runway.", "融资要覆盖12个月的资金跑道。", "融资要覆盖12个月的资金跑道。"),
        ("Raise 12 months of runway.", "融资要覆盖一年的资金跑道。", ""),  # a figure lost: not faithful
        ("Raise 12 months of runway.", "Raise 12 months of runway.", ""),  # no Chinese: not a rendering
        ("- **Cap**: the highest valuation.", "**上限**：最高估值。", "- **上限**：最高估值。"),
        ("2024", "", "2024"),  # no English words: its own rendering
    ],
)
def test_a_chinese_rendering_keeps_figures_and_markers_and_is_chinese(line, reply, rendered):
    body = line.removeprefix("- ")
    assert render_line(ChineseTranslator({body: reply}), line, "zh") == rendered


def test_the_chinese_direction_has_nothing_shipped_or_reviewed(tmp_path):
    with pytest.raises(ValueError, match="shipped"):
        Renderings(tmp_path / "zh.json", "m", target="zh")
    with pytest.raises(ValueError, match="target"):
        Renderings(tmp_path / "fr.json", "m", shipped=None, reviewed=None, target="fr")

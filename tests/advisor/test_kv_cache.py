"""The knowledge cache with a fake that keeps "KV files" as the text it read: build, reuse, invalidation,
corruption, passage order and labels, and the advisor answering through it (labels back to 1..n)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from advisor import build_advisor
from advisor.answer_format import Relabel, answer_grammar
from advisor.generate import ScriptedGenerator
from advisor.kv_cache import FIXED_PROMPTS, KnowledgeCache, fixed_messages
from advisor.prompting import answer_messages
from indexing import Hit, VectorIndex
from tests.advisor.support import CORPUS, PRICING, PRICING_CASE, TOOLS, make_chunks


class PrefixFileGenerator(ScriptedGenerator):
    """A scripted generator that also "saves" a read prompt (its text) to a file and "restores" it."""

    model_id = "scripted-prefix"

    def __init__(self, replies, directory: Path, model_path: Path):
        super().__init__(replies)
        self.prefix_dir = directory
        self.model_path = model_path
        self.saved: list[str] = []
        self.restored: list[str] = []

    def save_prefix(self, messages, filename):
        text = json.dumps(messages, ensure_ascii=False)
        (self.prefix_dir / filename).write_text(text, encoding="utf-8")
        self.saved.append(filename)
        return len(text)

    def restore_prefix(self, filename):
        data = (self.prefix_dir / filename).read_text(encoding="utf-8")
        self.restored.append(filename)
        return len(data)


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path


@pytest.fixture
def gen(tmp_path, model_file) -> PrefixFileGenerator:
    directory = tmp_path / "kv"
    directory.mkdir()
    return PrefixFileGenerator(("",), directory, model_file)


FIXED_ZH = sum(lang == "zh" for lang in FIXED_PROMPTS.values())
FIXED_EN = sum(lang == "en" for lang in FIXED_PROMPTS.values())
FAMILY_FILES = 2  # make_chunks: 5.3.2 and 5.3.3 are siblings, each leads a family file


def make_cache(gen, chunks, canary="CANARY-1", context_tokens=16384) -> KnowledgeCache:
    return KnowledgeCache(gen, chunks, context_tokens=context_tokens, canary=canary)


def test_built_once_then_reused_after_a_restart(gen, chunks):
    cache = make_cache(gen, chunks)
    assert not cache.ready("zh")
    cache.ensure(["zh", "en"])
    built = 2 * (len(chunks) + FAMILY_FILES) + FIXED_ZH + FIXED_EN
    assert len(gen.saved) == built and cache.ready("zh") and cache.ready("en")
    manifest = json.loads((gen.prefix_dir / "knowledge-zh.json").read_text("utf-8"))
    assert len(manifest["files"]) == len(chunks) + FAMILY_FILES + FIXED_ZH and manifest["key"] == cache.key(
        "zh"
    )
    # A file holds the answer prompt with one passage under its index position as label and no
    # question: what an answer led by that passage begins with.
    prompt = cache.messages("zh", chunks[3])[-1]["content"]
    assert prompt.startswith(f"资料：\n[4] 章节：{chunks[3].section}\n{chunks[3].text}")
    restarted = make_cache(gen, chunks)  # a new process: same key, verified files, nothing rebuilt
    restarted.ensure(["zh", "en"])
    assert len(gen.saved) == built
    assert restarted.restore("zh", Hit(chunks[3], 1.0, 1)) and gen.restored == ["knowledge-zh-0004.bin"]
    assert not list(gen.prefix_dir.glob(".tmp-*"))


@pytest.mark.parametrize("change", ["chunk text", "canary", "model file", "prompt template"])
def test_a_changed_index_model_or_prompt_is_never_served_stale(gen, chunks, model_file, change, monkeypatch):
    make_cache(gen, chunks).ensure(["zh"])
    built = len(gen.saved)
    if change == "chunk text":
        chunks[2] = type(chunks[2])(**{**_fields(chunks[2]), "text": chunks[2].text + "新增一句。"})
        cache = make_cache(gen, chunks)
    elif change == "canary":
        cache = make_cache(gen, chunks, canary="CANARY-2")
    elif change == "model file":
        model_file.write_bytes(b"GGUF" + bytes(range(255, -1, -1)) * 64)
        cache = make_cache(gen, chunks)
    else:
        import advisor.prompting as prompting

        original = prompting.load_template

        def edited(name, language, *args):
            text = original(name, language, *args)
            return text.replace("回答要求", "回答要求（新）") if name == "answer" else text

        monkeypatch.setattr(prompting, "load_template", edited)
        monkeypatch.setattr("advisor.kv_cache.answer_messages", prompting.answer_messages)
        cache = make_cache(gen, chunks)
    assert not cache.ready("zh") and not cache.restore("zh", Hit(chunks[2], 1.0, 1))
    assert gen.restored == []  # a stale file is never loaded
    cache.ensure(["zh"])
    # Only the files whose prompt changed are read again: the changed passage's own (it has no siblings
    # here); every passage file for a new answer template; every file holding the system prompt for a
    # new canary (not the condensation's); every file for a new model.
    passage_files = len(chunks) + FAMILY_FILES
    rebuilt = {"chunk text": 1, "prompt template": passage_files, "canary": built - 1}.get(change, built)
    assert len(gen.saved) == built + rebuilt and cache.ready("zh")
    assert cache.restore("zh", Hit(chunks[2], 1.0, 1))


def test_a_passage_gone_from_the_index_takes_its_file_along_and_the_rest_is_kept(gen, chunks):
    make_cache(gen, chunks).ensure(["zh"])
    built = len(gen.saved)
    assert (gen.prefix_dir / "knowledge-zh-0006.bin").exists()
    cache = make_cache(gen, chunks[:-1])
    assert cache.ready("zh")  # every remaining file holds the same prompt: still served
    cache.ensure(["zh"])
    # Nothing is read again, and the removed passage's file is deleted with its manifest entry.
    assert len(gen.saved) == built and cache.ready("zh")
    assert not (gen.prefix_dir / "knowledge-zh-0006.bin").exists()
    manifest = json.loads((gen.prefix_dir / "knowledge-zh.json").read_text("utf-8"))
    assert "knowledge-zh-0006.bin" not in manifest["files"] and len(manifest["files"]) == built - 1


def test_what_follows_the_question_is_in_no_file_and_changing_it_rebuilds_nothing(gen, chunks, monkeypatch):
    import advisor.prompting as prompting

    make_cache(gen, chunks).ensure(["zh"])
    built = len(gen.saved)
    original = prompting.load_template
    monkeypatch.setattr(
        prompting,
        "load_template",
        lambda name, language, *a: (
            original(name, language, *a) + ("\n（新的一行）" if name == "answer" else "")
        ),
    )
    monkeypatch.setattr("advisor.kv_cache.answer_messages", prompting.answer_messages)
    cache = make_cache(gen, chunks)
    assert cache.messages("zh", chunks[0])[-1]["content"].endswith("问题：")
    assert cache.ready("zh")
    cache.ensure(["zh"])
    assert len(gen.saved) == built


@pytest.mark.parametrize("damage", ["truncated", "flipped bytes", "file missing", "manifest garbage"])
def test_a_truncated_or_corrupt_file_is_detected_and_rebuilt_never_loaded(gen, chunks, damage):
    make_cache(gen, chunks).ensure(["zh"])
    path = gen.prefix_dir / "knowledge-zh-0002.bin"
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped bytes":
        path.write_bytes(data[:100] + bytes(b ^ 0xFF for b in data[100:110]) + data[110:])
    elif damage == "file missing":
        path.unlink()
    else:
        (gen.prefix_dir / "knowledge-zh.json").write_bytes(b"\xff\xfe not json")
    cache = make_cache(gen, chunks)  # a new process: checks each file before its first restore
    assert not cache.restore("zh", Hit(chunks[1], 1.0, 1)) and gen.restored == []
    cache.ensure(["zh"])
    built = len(chunks) + FAMILY_FILES + FIXED_ZH
    # The damaged file alone is read again; without a readable manifest no file can be trusted.
    assert len(gen.saved) == built + (built if damage == "manifest garbage" else 1)
    assert cache.restore("zh", Hit(chunks[1], 1.0, 1)) and path.read_bytes() == data


def test_the_fixed_prompts_are_built_with_their_language_and_restored_before_their_calls(gen, chunks):
    cache = make_cache(gen, chunks)
    assert not cache.restore_fixed("translate")  # nothing built yet: the call reads its prompt
    cache.ensure(["en"])
    assert cache.restore_fixed("translate") and gen.restored == ["prompt-translate.bin"]
    assert not cache.restore_fixed("condense-zh")  # Chinese not built
    # A file holds the call's prompt without question or history: the start every such call shares.
    saved = json.loads((gen.prefix_dir / "prompt-condense-en.bin").read_text("utf-8"))
    assert saved == fixed_messages("condense-en", "CANARY-1")
    system = json.loads((gen.prefix_dir / "prompt-answer-en.bin").read_text("utf-8"))[0]["content"]
    assert "CANARY-1" in system  # the deployment's system prompt, canary included
    # A damaged fixed file is never loaded, and the next ensure rebuilds the language.
    (gen.prefix_dir / "prompt-translate.bin").write_text("garbage", encoding="utf-8")
    fresh = make_cache(gen, chunks)
    assert not fresh.restore_fixed("translate") and gen.restored == ["prompt-translate.bin"]
    fresh.ensure(["en"])
    assert fresh.restore_fixed("translate")


def test_a_changed_condense_prompt_makes_the_language_stale(gen, chunks, monkeypatch):
    make_cache(gen, chunks).ensure(["zh"])
    import advisor.prompting as prompting

    original = prompting.load_template

    def edited(name, language, *args):
        text = original(name, language, *args)
        return text + "\n（新的一行）" if name == "condense" else text

    monkeypatch.setattr(prompting, "load_template", edited)
    cache = make_cache(gen, chunks)
    assert not cache.ready("zh") and not cache.restore_fixed("condense-zh")


def test_a_file_changed_after_its_check_is_not_restored(gen, chunks):
    cache = make_cache(gen, chunks)
    cache.ensure(["zh"])
    assert cache.restore("zh", Hit(chunks[0], 1.0, 1))
    path = gen.prefix_dir / "knowledge-zh-0001.bin"
    path.write_bytes(path.read_bytes() + b"x")  # the size changes: the per-answer stat check notices
    assert not cache.restore("zh", Hit(chunks[0], 1.0, 1)) and gen.restored == ["knowledge-zh-0001.bin"]


def test_the_best_ranked_whole_passage_leads_and_rank_order_is_kept(gen, chunks):
    hits = [Hit(chunks[5], 0.9, 1), Hit(chunks[0], 0.8, 2), Hit(chunks[4], 0.7, 3)]
    arranged = make_cache(gen, chunks).arrange(hits)
    assert [h.chunk for h in arranged.passages] == [chunks[5], chunks[0], chunks[4]]
    assert arranged.labels == [6, 1, 5]  # index positions: the same label in every prompt
    # A passage cut by focus is not its chunk's text: the best-ranked whole one leads (its file is a prefix).
    cut = Hit(type(chunks[5])(**{**_fields(chunks[5]), "text": chunks[5].text[:20]}), 0.9, 1)
    cache = make_cache(gen, chunks)
    arranged = cache.arrange([cut, Hit(chunks[1], 0.5, 2)])
    assert [h.chunk for h in arranged.passages] == [chunks[1], cut.chunk] and arranged.labels == [2, 6]
    cache.ensure(["zh"])
    assert not cache.restore("zh", cut) and gen.restored == []


def test_a_family_read_together_comes_from_one_file_lead_first_then_playbook_order(gen):
    concept = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.1 定价策略的概念"
    family = make_chunks([(concept, "定价策略是指公司如何设定价格。"), *CORPUS[:2], *CORPUS[4:]])
    cache = make_cache(gen, family)
    cache.ensure(["zh"])
    case, types, first = family[2], family[1], family[0]
    # The lead (5.3.3 here) stays first; its siblings follow in playbook order, as its family file holds them.
    arranged = cache.arrange([Hit(case, 0.9, 1), Hit(types, 0.8, 2), Hit(first, 0.7, 3)])
    assert [h.chunk for h in arranged.passages] == [case, first, types] and arranged.labels == [3, 1, 2]
    assert cache.restore("zh", arranged.passages[0], arranged.passages[1:])
    assert gen.restored[-1] == "knowledge-zh-0003-family.bin"
    # The family file is the answer prompt up to its question: passages, labels and instructions alike.
    question = "有哪些定价策略？"
    asked = answer_messages(
        question, arranged.passages, "zh", "other", canary="CANARY-1", labels=arranged.labels
    )
    cached = cache.messages("zh", case, family=True)
    assert asked[0] == cached[0]
    start = cached[-1]["content"].index("问题：") + len("问题：")
    assert (
        asked[-1]["content"].startswith(cached[-1]["content"][:start])
        and "回答要求" in cached[-1]["content"][:start]
    )
    # Lead and one sibling: the file with exactly that sibling after the lead, whichever it is.
    assert cache.restore("zh", Hit(case, 0.9, 1), [Hit(first, 0.8, 2)])
    assert gen.restored[-1] == "knowledge-zh-0003-with-0001.bin"
    assert cache.restore("zh", Hit(case, 0.9, 1), [Hit(types, 0.8, 2)])
    assert gen.restored[-1] == "knowledge-zh-0003-with-0002.bin"
    pair = cache.messages("zh", case, following=[types])
    asked = answer_messages(
        question, [Hit(case, 0.9, 1), Hit(types, 0.8, 2)], "zh", "other", canary="CANARY-1", labels=[3, 2]
    )
    assert asked[-1]["content"].startswith(pair[-1]["content"]) and "回答要求" in pair[-1]["content"]
    # A sibling then a passage of another family: the file matching the sibling.
    assert cache.restore("zh", Hit(case, 0.9, 1), [Hit(types, 0.8, 2), Hit(family[3], 0.7, 3)])
    assert gen.restored[-1] == "knowledge-zh-0003-with-0002.bin"
    # Without sibling sets, two of three read from the family file as far as it matches, as before.
    plain = KnowledgeCache(gen, family, context_tokens=16384, canary="CANARY-1", sibling_sets=False)
    plain.ensure(["zh"])
    assert plain.restore("zh", Hit(case, 0.9, 1), [Hit(first, 0.8, 2)])
    assert gen.restored[-1] == "knowledge-zh-0003-family.bin"
    assert plain.restore("zh", Hit(case, 0.9, 1), [Hit(types, 0.8, 2)])
    assert gen.restored[-1] == "knowledge-zh-0003.bin"
    # A passage of another family keeps rank order and the lead's own file.
    arranged = cache.arrange([Hit(types, 0.9, 1), Hit(family[3], 0.8, 2), Hit(first, 0.7, 3)])
    assert [h.chunk for h in arranged.passages] == [types, family[3], first]
    assert cache.restore("zh", arranged.passages[0], arranged.passages[1:])
    assert gen.restored[-1] == "knowledge-zh-0002.bin"


def test_without_family_files_only_the_passages_own_files_are_built_and_restored(gen, chunks):
    cache = KnowledgeCache(gen, chunks, context_tokens=16384, canary="CANARY-1", families=False)
    cache.ensure(["zh"])
    assert len(gen.saved) == len(chunks) + FIXED_ZH and not any("family" in name for name in gen.saved)
    assert cache.arrange([Hit(chunks[1], 0.9, 1), Hit(chunks[0], 0.8, 2)]).labels == [2, 1]
    assert cache.restore("zh", Hit(chunks[1], 0.9, 1), [Hit(chunks[0], 0.8, 2)])
    assert gen.restored == ["knowledge-zh-0002.bin"]
    # A different set of files is a different cache: switching families on rebuilds, never mixes.
    assert cache.key("zh") != make_cache(gen, chunks).key("zh")


def test_nothing_is_built_when_not_one_passage_fits(gen, chunks):
    cache = make_cache(gen, chunks, context_tokens=1024)
    cache.ensure(["zh"])
    assert gen.saved == [] and not cache.ready("zh") and not cache.restore("zh", Hit(chunks[0], 1.0, 1))


def test_relabel_turns_stable_labels_into_answer_numbers_across_pieces():
    relabel = Relabel([7, 41, 3])
    pieces = ["- **成本导向定价**：基于成本。[", "4", "1]\n- 其二。[7", "][3]", " [99] [4"]
    out = "".join(relabel.feed(p) for p in pieces) + relabel.flush()
    assert out == "- **成本导向定价**：基于成本。[2]\n- 其二。[1][3] [99] [4"


def test_the_grammar_cites_only_the_given_labels():
    grammar = answer_grammar("zh", 3, 4, "资料", labels=[7, 41, 3])
    assert '("7" | "41" | "3")' in grammar and "[1-3]" not in grammar


def test_the_advisor_answers_through_the_cache_and_shows_numbers_1_to_n(
    tmp_path, fake_settings, embedder, model_file
):
    chunks = make_chunks()
    index = VectorIndex.from_chunks(chunks, embedder)

    def reply(messages):
        user = messages[-1]["content"]
        label = re.search(rf"\[(\d+)\] 章节：{re.escape(PRICING)}", user).group(1)
        return f"- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。[{label}]"

    directory = tmp_path / "kv"
    directory.mkdir()
    generator = PrefixFileGenerator(reply, directory, model_file)
    adv = build_advisor(fake_settings, generator=generator, embedder=embedder, index=index)
    assert adv.knowledge_cache is not None
    adv.prepare_knowledge_cache()
    generator.calls.clear()
    deltas = list(adv.stream("AI大模型创业公司有哪些定价策略？"))
    answer = deltas[-1].answer
    assert not answer.refused, answer.text
    lead = answer.passages[0].chunk
    assert generator.restored == [adv.knowledge_cache.file_name("zh", lead)]
    # The prompt begins with exactly the restored file's prompt: its system message, and its passage block.
    prompt = generator.calls[-1]
    cached = adv.knowledge_cache.messages("zh", lead)
    assert prompt[0] == cached[0]
    block_end = cached[-1]["content"].index(lead.text) + len(lead.text)
    assert prompt[-1]["content"].startswith(cached[-1]["content"][:block_end])
    labels = [int(n) for n in re.findall(r"^\[(\d+)\] 章节", prompt[-1]["content"], flags=re.M)]
    assert labels == [chunks.index(h.chunk) + 1 for h in answer.passages]  # stable labels
    assert answer.citations and all(c.section in (PRICING, PRICING_CASE) for c in answer.citations)
    n = next(c.n for c in answer.citations if c.section == PRICING)
    assert answer.text.endswith(f"[{n}]") and 1 <= n <= len(answer.passages)
    assert answer.passages[n - 1].chunk.section == PRICING
    streamed = "".join(d.text for d in deltas)
    assert re.findall(r"\[(\d+)\]", streamed) == [str(n)]  # the reader never sees a label
    sources = [d for d in deltas if d.sources]
    assert len(sources) == 1 and sources[0].status == "reading" and sources[0].language == "zh"
    assert [h.chunk for h in sources[0].sources] == [h.chunk for h in answer.passages]


def test_without_a_cache_file_the_advisor_reads_the_passages_as_before(
    tmp_path, fake_settings, embedder, model_file
):
    chunks = make_chunks()
    index = VectorIndex.from_chunks(chunks, embedder)
    directory = tmp_path / "kv"
    directory.mkdir()
    generator = PrefixFileGenerator(
        ("- **PyTorch**：基于Python的开源深度学习框架。[1]",), directory, model_file
    )
    adv = build_advisor(fake_settings, generator=generator, embedder=embedder, index=index)
    answer = adv.ask("有哪些AI开发工具？")  # never prepared: nothing to restore, the prompt is read whole
    assert generator.restored == [] and not answer.refused
    assert answer.citations[0].section == TOOLS and answer.citations[0].n == 1


def _fields(chunk):
    return {name: getattr(chunk, name) for name in chunk.__dataclass_fields__}


def test_the_advisor_restores_each_calls_fixed_prompt_before_it(
    tmp_path, fake_settings, embedder, model_file
):
    chunks = make_chunks()
    index = VectorIndex.from_chunks(chunks, embedder)

    def reply(messages):
        if messages[0]["content"] == fixed_messages("translate", "")[0]["content"]:
            return "AI大模型创业公司的定价策略"
        if "---" not in messages[-1]["content"] and "资料" not in messages[-1]["content"]:
            return "AI大模型创业公司的定价策略有哪些？"  # the condensation's rewrite
        user = messages[-1]["content"]
        label = re.search(rf"\[(\d+)\] (?:章节|Section)[：:] ?{re.escape(PRICING)}", user)
        return f"- **Cost-based pricing**: price from cost plus a margin.[{label.group(1) if label else 1}]"

    directory = tmp_path / "kv"
    directory.mkdir()
    generator = PrefixFileGenerator(reply, directory, model_file)
    settings = fake_settings.model_copy(update={"translate_queries": True})
    adv = build_advisor(settings, generator=generator, embedder=embedder, index=index)
    adv.prepare_knowledge_cache()
    adv.ask("Which pricing strategies can an AI startup use?")
    # The rendering for retrieval first (its instructions from their file), then the answer's passage.
    assert generator.restored[0] == "prompt-translate.bin"
    assert (
        generator.restored[1].startswith("knowledge-en-") or generator.restored[1] == "prompt-answer-en.bin"
    )
    generator.restored.clear()
    history = [
        {"role": "user", "content": "AI大模型创业公司有哪些定价策略？"},
        {"role": "assistant", "content": "- **成本导向定价**：基于成本。[1]"},
    ]
    adv.ask("那它们各自适合什么情况？", history=history)
    assert generator.restored[0] == "prompt-condense-zh.bin"

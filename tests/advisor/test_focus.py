"""Focus: the retrieved passages are narrowed to the section or list item a question names, and only then."""

import dataclasses

from advisor.focus import focus_passages, lead_family
from indexing import Chunk, Hit

DESIGN = "AI大模型创业准备 › 4.3 AI大模型产品设计与开发 › 4.3.1 AI大模型产品的设计"
DEVELOP = "AI大模型创业准备 › 4.3 AI大模型产品设计与开发 › 4.3.2 AI大模型产品的开发"
TYPES = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.2 定价策略的类型"
CASE = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.3 定价策略的案例分析"
PROFIT_DIRECT = "AI大模型商业模式设计 › 5.2 AI大模型盈利模式 › 5.2.1 直接盈利模式"
PROFIT_PLATFORM = "AI大模型商业模式设计 › 5.2 AI大模型盈利模式 › 5.2.3 平台化盈利模式"

TYPES_TEXT = (
    "常见的定价策略包括以下几种：\n\n"
    "- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。\n"
    "- **价值导向定价**：根据用户对产品或服务的价值感知，设定价格。\n"
    "- **竞争导向定价**：根据市场竞争情况，设定具有竞争力的价格。\n"
    "- **组合定价**：结合多种定价策略，实现最优的价格策略。"
)
CASE_TEXT = (
    "以下是一个AI大模型创业公司的定价策略案例：\n\n"
    "- **成本导向定价**：基础版产品定价为每月1000元；专业版产品定价为每月5000元。\n"
    "- **价值导向定价**：根据客户对产品的价值感知，高端客户群体可享受折扣优惠。\n"
    "- **竞争导向定价**：在市场上，公司定期推出限时优惠活动，以吸引更多用户。"
)


def hit(rank: int, section: str, text: str) -> Hit:
    chunk = Chunk(f"c{rank}", "doc", text, section, "playbook.md", "zh", 0, len(text))
    return Hit(chunk, 1.0 - rank / 10, rank)


def sections(hits: list[Hit]) -> list[str]:
    return [h.chunk.section for h in hits]


def test_a_question_naming_the_top_section_reads_only_that_section():
    hits = [
        hit(1, DESIGN, "需求分析、架构设计、用户体验。"),
        hit(2, DEVELOP, "模型训练、系统集成、测试验证。"),
    ]
    assert sections(focus_passages("设计AI大模型产品包括哪些工作？", hits)) == [DESIGN]
    # English: the heading's words are found through the dictionary (设计 -> design)
    assert sections(focus_passages("What does designing an AI large-model product involve?", hits)) == [
        DESIGN
    ]


def test_sections_stay_when_the_question_names_none_or_several():
    hits = [hit(1, PROFIT_DIRECT, "直接销售。"), hit(2, PROFIT_PLATFORM, "平台生态。")]
    # 盈利模式 is in both headings: it sets neither apart, so a list question reads both
    assert sections(focus_passages("AI大模型创业有哪些盈利模式？", hits)) == [PROFIT_DIRECT, PROFIT_PLATFORM]
    assert sections(focus_passages("How do startups make money?", hits)) == [PROFIT_DIRECT, PROFIT_PLATFORM]


def test_a_section_below_the_top_is_chosen_only_when_the_question_names_nothing_of_the_top_one():
    hits = [hit(1, DEVELOP, "模型训练、系统集成、测试验证。"), hit(2, DESIGN, "需求分析、架构设计。")]
    # 设计 names 4.3.1 and nothing names 4.3.2: the lower section is what is asked
    # ("What can other founders learn from OpenAI?" ranked 6.1.2 above 6.1.3 经验与启示)
    assert sections(focus_passages("产品设计包括什么？", hits)) == [DESIGN]
    # naming the top section too, retrieval's order stands and both are read
    assert sections(focus_passages("产品设计和开发包括什么？", hits)) == [DEVELOP, DESIGN]
    success = ranked(
        (SUCCESS_REASONS, "OpenAI的成功原因。"), (SUCCESS_INTRO, "OpenAI。"), (SUCCESS_LESSONS, "经验。")
    )
    assert sections(focus_passages("What can founders learn from OpenAI?", success)) == [SUCCESS_LESSONS]


BOOKS = "附录 › 附录A AI大模型创业工具与资源 › A.3 相关书籍与文献"
NEURAL = "AI大模型技术原理 › 2.1 深度学习基础 › 2.1.1 神经网络原理"
PRETRAINING = "AI大模型技术原理 › 2.3 大规模预训练模型 › 2.3.1 预训练模型概述"
DATASETS = "附录 › 附录A AI大模型创业工具与资源 › A.2 数据集与资源"


def ranked(*sections_and_texts: tuple[str, str]) -> list[Hit]:
    return [hit(rank, section, text) for rank, (section, text) in enumerate(sections_and_texts, 1)]


def test_a_book_title_names_the_book_not_a_heading():
    hits = ranked(
        (BOOKS, "- **《神经网络与深度学习》**：邱锡鹏博士撰写的教材。"), (NEURAL, "神经网络由神经元组成。")
    )
    # 神经网络 in the title named 2.1.1 神经网络原理, read alone, while the book is A.3's (zh-appendix-04)
    assert BOOKS in sections(focus_passages("推荐的中文深度学习教材《神经网络与深度学习》是谁写的？", hits))
    # the same words outside a title name the heading
    assert sections(focus_passages("神经网络的原理是什么？", hits[::-1])) == [NEURAL]


def test_a_question_about_one_name_reads_the_passages_that_list_it():
    hits = ranked(
        (PRETRAINING, "预训练模型在大规模数据集上进行预训练。"),
        (DATASETS, "- **ImageNet**：图像数据集。\n- **COCO数据集**：目标检测数据集。"),
    )
    # ranked below a passage on pre-training data sets, A.2 is the one that lists COCO (conv-en-appendix)
    assert sections(focus_passages("Tell me more about the COCO dataset.", hits)) == [DATASETS]
    # no name, or a name the top passage has: nothing moves
    assert sections(focus_passages("What is pre-training?", hits))[0] == PRETRAINING
    assert sections(focus_passages("Is ImageNet used in pre-training?", hits[::-1]))[0] == DATASETS


def test_a_question_naming_one_list_item_reads_that_item_in_every_passage_that_has_it():
    hits = [hit(1, TYPES, TYPES_TEXT), hit(2, CASE, CASE_TEXT)]
    for question in ("什么是成本导向定价？", "How does cost-based pricing work?"):
        # (the case only illustrates the types' list: on its own it would be left out, see test_examples)
        out = focus_passages(question, hits, drop_examples=False)
        assert sections(out) == [TYPES, CASE]
        assert all("成本导向定价" in h.chunk.text for h in out)
        assert not any("价值导向定价" in h.chunk.text or "竞争导向定价" in h.chunk.text for h in out)
        assert out[0].chunk.text.startswith("常见的定价策略包括以下几种：")  # the lead stays
        assert "每月1000元" in out[1].chunk.text


def test_an_item_only_one_passage_lists_drops_the_passages_without_it():
    hits = [
        hit(1, CASE, CASE_TEXT),
        hit(2, TYPES, TYPES_TEXT.replace("- **竞争导向定价**", "- **竞争定价**")),
    ]
    out = focus_passages("How did the company in the pricing case apply competition-based pricing?", hits)
    assert sections(out) == [CASE]
    assert "限时优惠" in out[0].chunk.text and "1000元" not in out[0].chunk.text


RESPONSE = "AI大模型创业的建议与启示 › 9.3 创业风险与应对 › 9.3.3 应对策略与建议"
MANAGEMENT = "AI大模型创业的建议与启示 › 9.3 创业风险与应对 › 9.3.2 风险管理策略"
RESPONSE_TEXT = (
    "针对AI大模型创业中的常见风险，以下是一些应对策略和建议：\n\n"
    "- **资金风险**：合理规划资金使用，确保资金链的稳定。\n"
    "- **法律风险**：遵守相关法律法规，确保合规经营。"
)
MANAGEMENT_TEXT = (
    "风险管理策略是降低创业风险的重要手段，包括以下几个方面：\n\n"
    "- **风险评估**：定期进行风险评估。\n"
    "- **风险应对**：制定风险应对策略，如风险转移、风险规避等。"
)


def test_a_name_the_question_writes_beats_one_whose_words_it_only_has():
    # "应对资金风险" has the words of 风险应对 (应对, 风险), but writes only 资金风险: the management passage
    # has no 资金风险 item and is not read.
    hits = [hit(1, RESPONSE, RESPONSE_TEXT), hit(2, MANAGEMENT, MANAGEMENT_TEXT)]
    for question, renderings in (
        ("创业公司应该如何应对资金风险？", ()),
        ("How can a startup deal with funding risk?", ("创业公司如何应对资金风险？",)),
    ):
        out = focus_passages(question, hits, renderings)
        assert sections(out) == [RESPONSE]
        assert "资金风险" in out[0].chunk.text and "法律风险" not in out[0].chunk.text
    # With no name written as it stands, the word match still decides: 风险应对 is read.
    out = focus_passages("风险如何应对？", [hit(1, MANAGEMENT, MANAGEMENT_TEXT)])
    assert "风险应对" in out[0].chunk.text and "风险评估" not in out[0].chunk.text


RESEARCH = "AI大模型创业的建议与启示 › 9.1 创业准备 › 9.1.3 市场调研与定位"
RESEARCH_TEXT = (
    "市场调研与定位是创业成功的基础，包括以下几个方面：\n\n"
    "- **市场调研**：通过问卷调查、访谈等方法，了解市场需求。\n"
    "- **产品定位**：根据市场调研结果，确定产品的目标市场和核心价值。"
)


def test_a_follow_up_reads_the_item_its_own_words_name_not_the_one_its_rewrite_adds():
    hits = [hit(1, RESEARCH, RESEARCH_TEXT)]
    rewrite = "市场调研完成后，产品定位如何确定？"
    # the rewrite alone writes both names: both items are read
    assert "问卷调查" in focus_passages(rewrite, hits)[0].chunk.text
    out = focus_passages(rewrite, hits, asked="那调研完之后产品定位怎么确定？")
    assert "确定产品的目标市场" in out[0].chunk.text and "问卷调查" not in out[0].chunk.text
    # "the second one" writes no name: the rewrite's name decides
    out = focus_passages("产品定位具体是什么意思？", hits, asked="第二个具体是什么意思？")
    assert "确定产品的目标市场" in out[0].chunk.text and "问卷调查" not in out[0].chunk.text


def test_list_questions_and_partial_names_keep_the_whole_list():
    hits = [hit(1, TYPES, TYPES_TEXT)]
    assert focus_passages("有哪些定价策略？", hits) == hits
    assert focus_passages("Which pricing types are there?", hits) == hits
    # 价值 alone is one word of 价值导向定价: not enough to cut the others away
    assert focus_passages("定价时如何体现价值？", hits) == hits


def test_nothing_in_nothing_out():
    assert focus_passages("什么是成本导向定价？", []) == []


def test_a_section_about_the_named_item_stays_whole():
    growth = "AI大模型创业团队建设与运营 › 7.3 持续创新与成长 › 7.3.2 成长策略"
    expansion = "AI大模型创业团队建设与运营 › 7.3 持续创新与成长 › 7.3.3 市场拓展策略"
    hits = ranked(
        (growth, "成长策略包括以下几个方面：\n\n- **市场拓展**：积极开拓市场。\n- **产品迭代**：持续迭代。"),
        (expansion, "市场拓展策略包括：\n\n- **线上推广**：社交媒体。\n- **线下活动**：行业会议。"),
    )
    out = focus_passages("市场拓展应该怎么做？", hits)
    assert sections(out) == [growth, expansion]
    assert "产品迭代" not in out[0].chunk.text  # the list item, cut to itself
    assert out[1].chunk.text == hits[1].chunk.text  # the section on it, whole


GROWTH = "AI大模型创业团队建设与运营 › 7.3 持续创新与成长 › 7.3.2 成长策略"
EXPAND_73 = "AI大模型创业团队建设与运营 › 7.3 持续创新与成长 › 7.3.3 市场拓展策略"
EXPAND_92 = "AI大模型创业的建议与启示 › 9.2 创业策略 › 9.2.2 市场拓展策略"
POSITIONING = "AI大模型创业准备 › 4.2 市场调研与定位 › 4.2.2 市场定位的策略"
EXPAND_TEXT = "市场拓展策略包括以下几个方面：\n\n- **线上推广**：线上渠道。\n- **线下活动**：行业会议。"


def test_a_section_ranked_as_close_as_the_top_one_is_read_when_the_question_names_it():
    hits = [
        Hit(
            Chunk("g", "d", "成长策略包括：\n\n- **市场拓展**：积极开拓市场。", GROWTH, "p", "zh", 0, 1),
            0.0481,
            1,
        ),
        Hit(Chunk("e9", "d", EXPAND_TEXT, EXPAND_92, "p", "zh", 0, 1), 0.0479, 2),
        Hit(Chunk("p", "d", "- **目标市场**：明确目标市场。", POSITIONING, "p", "zh", 0, 1), 0.0469, 3),
        Hit(Chunk("e7", "d", EXPAND_TEXT, EXPAND_73, "p", "zh", 0, 1), 0.0463, 4),
    ]
    out = focus_passages("Which strategies can a startup use to expand its market?", hits)
    # both sections titled 市场拓展策略 with the same items are one section; 成长策略 is left out
    assert sections(out) == [EXPAND_92, EXPAND_73]
    # ranked well below the top one, the named section does not displace it
    far = [hits[0], dataclasses.replace(hits[1], score=0.040)]
    assert sections(focus_passages("Which strategies can a startup use to expand its market?", far)) == [
        GROWTH,
        EXPAND_92,
    ]


SUCCESS_INTRO = "AI大模型创业案例解析 › 6.1 AI大模型创业成功案例 › 6.1.1 案例介绍"
SUCCESS_REASONS = "AI大模型创业案例解析 › 6.1 AI大模型创业成功案例 › 6.1.2 成功原因分析"
SUCCESS_LESSONS = "AI大模型创业案例解析 › 6.1 AI大模型创业成功案例 › 6.1.3 经验与启示"
FAILURE_INTRO = "AI大模型创业案例解析 › 6.2 AI大模型创业失败案例 › 6.2.1 案例介绍"
FAILURE_REASONS = "AI大模型创业案例解析 › 6.2 AI大模型创业失败案例 › 6.2.2 失败原因分析"
FAILURE_LESSONS = "AI大模型创业案例解析 › 6.2 AI大模型创业失败案例 › 6.2.3 失败教训与反思"


def test_sections_with_the_same_heading_but_different_content_are_not_one():
    hits = [
        hit(1, SUCCESS_INTRO, "OpenAI。"),
        hit(2, SUCCESS_LESSONS, "经验。"),
        hit(3, FAILURE_INTRO, "GTP.ai。"),
    ]
    assert sections(focus_passages("What lessons does the OpenAI case offer?", hits)) == [
        SUCCESS_INTRO,
        SUCCESS_LESSONS,
        FAILURE_INTRO,
    ]


def test_a_question_asking_why_or_for_lessons_names_the_reasons_or_the_lessons():
    intro, reasons, lessons = FAILURE_INTRO, FAILURE_REASONS, FAILURE_LESSONS
    hits = [hit(1, reasons, "原因。"), hit(2, intro, "GTP.ai。"), hit(3, lessons, "教训。")]
    assert sections(focus_passages("GTP.ai为什么会失败？", hits)) == [reasons]
    assert sections(focus_passages("Why did GTP.ai fail?", hits)) == [reasons]
    # the case is named too ("那个失败的案例"): nothing is set apart, all is read (not the introduction alone)
    assert sections(focus_passages("那个失败的案例是什么？它为什么失败？", hits)) == [reasons, intro, lessons]
    # "lessons" names 6.1.3 经验与启示 (CC-CEDICT: "experience", "enlightenment"), so the success case's
    # introduction, named by "case", is not read alone (en-case-success-02 was refused from it, run L).
    success = [
        hit(1, SUCCESS_INTRO, "OpenAI。"),
        hit(2, SUCCESS_REASONS, "原因。"),
        hit(3, SUCCESS_LESSONS, "经验。"),
    ]
    assert SUCCESS_LESSONS in sections(
        focus_passages("What lessons does the OpenAI case offer to founders?", success)
    )
    assert sections(focus_passages("What can founders learn from OpenAI?", success[::-1])) == [
        SUCCESS_LESSONS
    ]


def test_the_lessons_of_the_failure_are_named_by_their_chinese_word():
    hits = [
        hit(1, FAILURE_LESSONS, "教训。"),
        hit(2, FAILURE_REASONS, "原因。"),
        hit(3, FAILURE_INTRO, "GTP.ai。"),
    ]
    # 教训 alone was 1 of 失败 / 教训 / 反思: too little to decide, and the causes were written again
    assert sections(focus_passages("那GTP.ai的教训是什么？", hits)) == [FAILURE_LESSONS]
    # in English the lessons alone came back padded; read whole, the answer was clean
    assert len(focus_passages("What lessons can I draw from GTP.ai's failure?", hits)) == 3
    # the case is named too: still all of them
    assert len(focus_passages("GTP.ai这个失败案例有什么教训？", hits)) == 3


def test_an_item_named_whole_that_another_section_lists_beats_a_heading_named_by_why():
    reasons = hit(1, SUCCESS_REASONS, "OpenAI的成功可归因于：\n\n- **强大的研发团队**：顶尖科学家。")
    lessons = hit(
        2, SUCCESS_LESSONS, "经验与启示：\n\n- **技术创新是核心**：持续创新。\n- **开放与合作**：开源共享。"
    )
    # "why" names 6.1.2's 原因, but the item asked about is one of 6.1.3's lessons: that item is read
    out = focus_passages("Why does openness and cooperation matter?", [reasons, lessons])
    assert sections(out) == [SUCCESS_LESSONS] and "技术创新" not in out[0].chunk.text
    assert sections(focus_passages("Why did OpenAI succeed?", [reasons, lessons])) == [SUCCESS_REASONS]


OPS_SYSTEM = "AI大模型创业团队建设与运营 › 7.2 企业运营管理 › 7.2.2 运营管理体系"
OPS_OPTIMISE = "AI大模型创业团队建设与运营 › 7.2 企业运营管理 › 7.2.3 运营管理优化"


def test_a_follow_ups_own_words_decide_when_its_rewrite_names_two_sections():
    hits = [hit(1, OPS_OPTIMISE, "流程优化。"), hit(2, OPS_SYSTEM, "战略规划。")]
    rewrite = "如何优化企业运营管理体系？"  # the rewrite carried 体系 over from the first question
    assert sections(focus_passages(rewrite, hits)) == [OPS_OPTIMISE, OPS_SYSTEM]
    assert sections(focus_passages(rewrite, hits, asked="怎么优化它？")) == [OPS_OPTIMISE]
    # own words that name neither change nothing
    assert sections(focus_passages(rewrite, hits, asked="那它呢？")) == [OPS_OPTIMISE, OPS_SYSTEM]


def test_lead_family_keeps_the_lead_passages_siblings_and_drops_other_sections():
    market = "AI大模型创业的建议与启示 › 9.2 创业策略 › 9.2.2 市场拓展策略"
    hits = [
        hit(1, TYPES, TYPES_TEXT),
        hit(2, market, "市场拓展策略是扩大市场份额的重要手段。"),
        hit(3, CASE, CASE_TEXT),
        hit(4, PROFIT_DIRECT, "直接盈利模式是指通过直接销售产品获得收入。"),
    ]
    assert sections(lead_family(hits)) == [TYPES, CASE]  # rank order kept
    assert sections(lead_family(hits[1:])) == [market]
    assert lead_family(hits[:1]) == hits[:1] and lead_family([]) == []


def test_lead_family_tells_documents_apart_and_reads_each_documents_own_family():
    own = Chunk("x1", "doc2", "Notes.", "Fundraising › Channels", "notes.md", "en", 0, 6)
    sibling = Chunk("x2", "doc2", "More.", "Fundraising › Terms", "notes.md", "en", 0, 5)
    elsewhere = Chunk("x3", "doc2", "Pay.", "Hiring › Pay", "notes.md", "en", 0, 4)
    other = Chunk("y1", "doc3", "Else.", "Fundraising › Channels", "other.md", "en", 0, 5)
    other_elsewhere = Chunk("y2", "doc3", "Later.", "Hiring › Offers", "other.md", "en", 0, 6)
    hits = [
        Hit(c, 1.0 - i / 10, i + 1) for i, c in enumerate([own, other, elsewhere, sibling, other_elsewhere])
    ]
    # The lead document's family (x1, x2: one heading "Fundraising" of notes.md), and other.md's own first
    # family (y1): an added document beside the playbook is read as its own source; the rest of each is not.
    assert [h.chunk.chunk_id for h in lead_family(hits)] == ["x1", "y1", "x2"]


CHALLENGES = "AI大模型产业应用 › 3.3 AI大模型创业机会与挑战 › 3.3.2 AI大模型创业挑战"
STRATEGIES = "AI大模型产业应用 › 3.3 AI大模型创业机会与挑战 › 3.3.3 AI大模型创业策略"


def test_a_question_that_copes_with_a_problem_reads_the_strategies_not_the_problem():
    strategies = hit(
        1, STRATEGIES, "为了应对上述挑战，创业者可以采取以下策略：\n- **合作与联盟**：与企业合作。"
    )
    challenges = hit(2, CHALLENGES, "AI大模型创业面临以下挑战：\n- **计算资源需求**：需要大量计算资源。")
    for question in ("如何应对AI大模型创业中的挑战？", "How can founders deal with these challenges?"):
        assert sections(focus_passages(question, [strategies, challenges])) == [STRATEGIES], question
    # asked for the challenges themselves, the challenges are read
    first = dataclasses.replace(challenges, score=0.95)
    assert sections(focus_passages("AI大模型创业面临哪些挑战？", [first, strategies])) == [CHALLENGES]


def test_coping_with_a_named_list_item_leaves_the_section_choice_as_it_was():
    # "如何应对资金风险？" names the 资金风险 item; both sections listing it are read, each cut to it (as
    # before the coping rule: 9.3.3's item alone lost half of itself in the 1.5B's answer, run O).
    identify = "AI大模型创业的建议与启示 › 9.3 创业风险与应对 › 9.3.1 创业风险识别"
    respond = "AI大模型创业的建议与启示 › 9.3 创业风险与应对 › 9.3.3 应对策略与建议"
    hits = ranked(
        (respond, "以下是应对策略：\n- **资金风险**：合理规划资金使用。\n- **法律风险**：重视知识产权保护。"),
        (identify, "创业风险识别：\n- **资金风险**：识别资金不足。\n- **法律风险**：识别侵权。"),
    )
    out = focus_passages("创业公司应该如何应对资金风险？", hits)
    assert sections(out) == [respond, identify] and all("法律风险" not in h.chunk.text for h in out)

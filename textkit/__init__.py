"""The text rules every layer shares: Han characters, language, sentences, figures and folded spans.

The bottom layer: it imports no other package of this project, and every package may import it, so each
rule here is written once (tests/test_layering.py holds it to that).
"""

from textkit.han import CJK_SCRIPT, HAN, HAN_CLASS, count_han, han_run, has_han, is_han
from textkit.language import Language, detect_language, han_share, has_letters
from textkit.numbers import Figure, figures, known_figures, unstated
from textkit.sentences import SENTENCE_END, sentence_spans, split_sentences
from textkit.spans import char_weight, fold, weighted_windows

__all__ = [
    "CJK_SCRIPT",
    "HAN",
    "HAN_CLASS",
    "SENTENCE_END",
    "Figure",
    "Language",
    "char_weight",
    "count_han",
    "detect_language",
    "figures",
    "fold",
    "han_run",
    "han_share",
    "has_han",
    "has_letters",
    "is_han",
    "known_figures",
    "sentence_spans",
    "split_sentences",
    "unstated",
    "weighted_windows",
]

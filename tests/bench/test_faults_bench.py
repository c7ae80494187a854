"""`python -m bench faults` at tiny scale: every experiment runs for real, prints its tables, judges its rules.

The rules themselves are the tests' (tests/indexing/test_faults.py, test_bad_inputs.py share the code in
bench.fault_injection); here: the command wires them up, prints figures, and its exit status follows them.
"""

from __future__ import annotations

import re

from bench import fault_injection
from bench.__main__ import main as bench_main


def _rules(out: str) -> dict[str, tuple[str, str]]:
    """{check: (figure, pass)} from the printed Rules table."""
    rules = {}
    for line in out.split("### Rules", 1)[1].splitlines():
        if match := re.match(r"\| (.+?) \| (.+?) \| .+? \| (yes|NO) \|$", line):
            rules[match.group(1)] = (match.group(2), match.group(3))
    return rules


def test_the_faults_command_runs_every_experiment_at_tiny_scale(capsys):
    status = bench_main(
        ["faults", "--kills", "2", "--kill-docs", "4", "--flips", "2", "--embedder", "hash", "--no-app"]
    )
    out = capsys.readouterr().out

    assert status == 0, out
    assert "ALL RULES PASS" in out
    rules = _rules(out)
    assert all(ok == "yes" for _figure, ok in rules.values()), rules
    assert rules["bad input: files"][0] == "48"
    assert rules["bad input: silent drops"][0] == "0"
    assert re.fullmatch(
        r"(\d+) / \1 / \1 / \1", rules["bad input: vectors == chunks (disk, manifest, report)"][0]
    )
    assert rules["kills: mixed or crash"][0] == "0"
    assert rules["corruption: falls back or fails clearly"][0] == "18/18"  # 3 files x (4 cuts + 2 flips)
    assert rules["model load: exit 2 + one clear error line, no traceback"][0] == "3/3"
    # Every bad file has its row; the Chinese ones were decoded; no temp path leaks into the tables.
    assert out.count("| `") >= 48 + 3 * 2
    assert (
        "| `gb18030.md` | indexed | new | 1 |" in out and "| `bomb.docx` | skipped | too_large | 0 |" in out
    )
    assert "phrase top-3 check skipped" in out
    assert "/tmp/" not in out and "$TMP/" in out


def test_a_broken_rule_makes_the_command_fail(capsys, monkeypatch):
    # Demand wording the real error line does not have: the real CLI run must then be judged unclear.
    monkeypatch.setitem(fault_injection.MODEL_FAILURE_REASONS, "missing", "a phrase no error message has")
    status = bench_main(["faults", "--no-app", "--skip", "bad-input", "--kills", "0", "--skip", "corruption"])
    out = capsys.readouterr().out

    assert status == 1, out
    assert "SOME RULES FAIL" in out
    assert _rules(out)["model load: exit 2 + one clear error line, no traceback"] == ("2/3", "NO")

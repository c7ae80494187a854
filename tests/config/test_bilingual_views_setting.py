"""settings.bilingual_views: "auto" by default, true/false still accepted, FA_BILINGUAL_VIEWS=auto|1|0."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import Settings


def test_auto_is_the_default_outside_the_fakes_profile():
    assert Settings(profile="cpu").bilingual_views == "auto"
    assert Settings(profile="gpu").bilingual_views == "auto"
    # The fakes' hash embedder would only reshuffle the fixtures' rankings through a view: tests opt in.
    assert Settings(profile="test").bilingual_views is False


@pytest.mark.parametrize(
    ("env", "value"),
    [("auto", "auto"), ("1", True), ("0", False), ("true", True), ("false", False)],
)
def test_the_environment_sets_auto_on_or_off(monkeypatch, env, value):
    monkeypatch.setenv("FA_BILINGUAL_VIEWS", env)
    assert Settings(profile="cpu").bilingual_views == value
    assert type(Settings(profile="cpu").bilingual_views) is type(value)


@pytest.mark.parametrize("bad", ["sometimes", "AUTO-ish", "2"])
def test_any_other_value_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("FA_BILINGUAL_VIEWS", bad)
    with pytest.raises(ValidationError, match="bilingual_views"):
        Settings(profile="cpu")

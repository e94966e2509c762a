"""Generated bad input (hypothesis): any `key=value` override and any row of a pairs file either works or is refused
with a ConfigError / DataError whose message names the key (or the file and row); never another exception."""

import json
import string
from pathlib import Path
from typing import get_origin

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rayrlhf.config import Config, ConfigError, load_config
from rayrlhf.config.reference import section_model
from rayrlhf.data.prompts import DataError
from rayrlhf.rewards.evaluate import load_pairs

QUICKSTART = str(Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml")


def leaf_keys(model=Config, prefix: str = "") -> list[str]:
    """Every dotted key of the config that holds a value (not a section, not a list of sections)."""
    out = []
    for name, info in model.model_fields.items():
        inner = section_model(info.annotation)
        if inner is None:
            out.append(prefix + name)
        elif get_origin(info.annotation) is not list:
            out += leaf_keys(inner, f"{prefix}{name}.")
    return out


KEYS = leaf_keys()
VALUES = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                   st.booleans().map(str), st.just("null"), st.text(string.printable, max_size=12),
                   st.lists(st.integers(-3, 3), max_size=3).map(json.dumps), st.sampled_from(["{a: 1}", "[", "'", "~"]))
FUZZ = settings(max_examples=250, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_override_is_taken_or_refused_naming_its_key(key, value):
    try:
        load_config(QUICKSTART, [f"{key}={value}"])
    except ConfigError as exc:
        message = str(exc)
        assert message and "Traceback" not in message
        assert key.split(".")[0] in message, (key, value, message)


@FUZZ
@given(key=st.text(string.ascii_letters + "._", min_size=1, max_size=20), value=VALUES)
def test_an_unknown_or_malformed_key_is_refused_in_one_message(key, value):
    try:
        load_config(QUICKSTART, [f"{key}={value}"])
    except ConfigError as exc:
        assert str(exc) and "Traceback" not in str(exc)


ROW_VALUES = st.one_of(st.text(max_size=10), st.integers(), st.none(), st.booleans(), st.lists(st.text(max_size=3), max_size=2))
ROWS = st.lists(st.one_of(st.dictionaries(st.sampled_from(["prompt", "chosen", "rejected", "reference", "extra"]), ROW_VALUES,
                                          max_size=5).map(json.dumps),
                          st.text(max_size=15)), min_size=1, max_size=4)


@FUZZ
@given(lines=ROWS)
def test_any_pairs_file_is_read_or_refused_naming_the_file(tmp_path, lines):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n")
    try:
        pairs, _ = load_pairs(path)
    except DataError as exc:
        assert str(path) in str(exc) or "pairs" in str(exc), str(exc)
    else:
        assert all(isinstance(p.chosen, str) and isinstance(p.rejected, str) for p in pairs)

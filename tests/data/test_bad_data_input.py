"""Bad input, generated: data rows and files at train time, model and output paths, pairs files. The harness
(tests/support/bad_input.py) runs each case in-process in a scratch directory: exit 2 within 3 s, a message
naming the file and row (or the key), no traceback, nothing written, Ray never started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.bad_input import GOOD_ROWS, PAIR, jsonl, listing, rejected, warm_imports


@pytest.fixture(scope="module", autouse=True)
def _warm():
    warm_imports()  # once, outside the cases' 3 s


# -- data rows and files, at train time (the preflight fails before the run directory exists) ----------------

BAD_VALUES = [("missing", None, "is missing"), ("null", None, "is missing"), ("empty", "", "is empty"),
              ("blank", "   ", "is empty"), ("int", 5, "is not text (got int)"), ("float", 2.5, "is not text (got float)"),
              ("bool", True, "is not text (got bool)"), ("list", ["a"], "is not text (got list)"),
              ("dict", {"a": 1}, "is not text (got dict)")]


def _rows_with(field: str, kind: str, value, at: int) -> list[dict]:
    rows = [dict(r) for r in GOOD_ROWS]
    if kind == "missing":
        del rows[at][field]
    else:
        rows[at][field] = value
    return rows


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
@pytest.mark.parametrize("field", ["text", "summary"])
@pytest.mark.parametrize(("kind", "value", "phrase"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_data_row(cli, fmt, field, kind, value, phrase):
    at = 5
    if field == "text" and kind == "list":  # the prompt field may hold a conversation: ["a"] is a bad one
        phrase = "message 0 is not an object with text 'role' and 'content'"
    rows = _rows_with(field, kind, value, at)
    text = jsonl(rows) if fmt == "jsonl" else json.dumps(rows)
    rejected(cli("train", "base.yaml", f"data.dataset=data.{fmt}", files={f"data.{fmt}": text}),
             f"data.{fmt}", f"row {at}: field '{field}' {phrase}")


def test_bad_rows_skipped_leave_too_few(cli):
    rows = [dict(r, text="") if i else r for i, r in enumerate(GOOD_ROWS)]
    rejected(cli("train", "base.yaml", "data.dataset=d.jsonl", "data.on_bad_row=skip", files={"d.jsonl": jsonl(rows)}),
             "d.jsonl", "1 usable rows", "eval.num_prompts=2")


GOOD = jsonl(GOOD_ROWS)
FILE_CASES = [
    ("d.jsonl", "", ["d.jsonl is empty"]),
    ("d.jsonl", "\n \n", ["d.jsonl holds no rows"]),
    ("d.jsonl", GOOD + '{"text": "x",\n', ["d.jsonl: line 9 is not JSON"]),
    ("d.jsonl", '{bad\n' + GOOD, ["d.jsonl: line 1 is not JSON"]),
    ("d.jsonl", GOOD.replace("\n", "\n[1, 2]\n", 1), ["d.jsonl: line 2 is a JSON list, not an object"]),
    ("d.jsonl", GOOD.replace("\n", '\n"just text"\n', 1), ["d.jsonl: line 2 is a JSON str, not an object"]),
    ("d.jsonl", GOOD.replace("\n", "\n42\n", 1), ["d.jsonl: line 2 is a JSON int, not an object"]),
    ("d.jsonl", GOOD.replace("\n", "\nnull\n", 1), ["d.jsonl", "row 1: field 'text' is missing"]),
    ("d.jsonl", b"\xff\xfe" + GOOD.encode(), ["d.jsonl: it is not UTF-8 text"]),
    ("d.json", '[{"text": "a", "summary": "b"}, 7]', ["d.json: item 1 of its list is a JSON int"]),
    ("d.json", '{"text": "a",', ["d.json: line 1 is not JSON"]),
    ("d.json", "", ["d.json is empty"]),
    ("d.csv", "text,summary\n", ["d.csv holds no rows"]),
    ("d.csv", 'text,summary\n"unclosed,b\n', ["d.csv: could not read it as a CSV file", "EOF inside string"]),
    ("d.csv", "text,summary\n1,a\n2,b\n3,c\n4,d\n", ["d.csv", "row 0: field 'text' is not text (got int)"]),
    ("d.csv", "text,summary\na,x\nb,\nc,z\nd,w\n", ["d.csv", "row 1: field 'summary' is missing"]),
    ("d.csv", "document,summary\na,b\n", ["d.csv", "no column(s) ['text']", "its columns are ['document', 'summary']"]),
    ("d.parquet", "not parquet at all", ["d.parquet: could not read it as a parquet file", "magic bytes"]),
    ("d.parquet", "", ["d.parquet is empty"]),
    ("d.jsonl", jsonl([{"document": "a", "summary": "b"}] * 4), ["d.jsonl", "no column(s) ['text']"]),
    ("d.jsonl", jsonl(GOOD_ROWS[:2]), ["d.jsonl", "has 2 usable rows; eval.num_prompts=2 would leave none to train on"]),
]


@pytest.mark.parametrize(("name", "content", "needles"), FILE_CASES, ids=[f"{c[0]}:{c[2][-1][:30]}" for c in FILE_CASES])
def test_bad_data_file(cli, name, content, needles):
    rejected(cli("train", "base.yaml", f"data.dataset={name}", files={name: content}), *needles)


def test_parquet_rows_are_checked(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["a", None, "c", "d"], "summary": ["w", "x", "y", "z"]}), tmp_path / "d.parquet")
    rejected(cli("train", "base.yaml", "data.dataset=d.parquet", files={"d.parquet": (tmp_path / "d.parquet").read_bytes()}),
             "d.parquet", "row 1: field 'text' is missing")


DATA_PATH_CASES = [
    (["data.dataset=nope.jsonl"], ["data.dataset: file not found: nope.jsonl"]),
    (["data.dataset=bad_model"], ["data.dataset: file not found: bad_model (a directory)"]),
    (["data.dataset=./notes.txt"], ["data.dataset: file not found: notes.txt"]),
    (["data.dataset=base.yaml"], ["data.dataset: base.yaml is not a .jsonl, .json, .parquet or .csv file"]),
    (["data.eval_split=test"], ["data.eval_split='test': a local file has no splits"]),
    (["data.prompt_field=nope"], ["prompts.jsonl", "no column(s) ['nope']"]),
    (["data.reference_field=nope"], ["prompts.jsonl", "no column(s) ['nope']"]),
    (["eval.num_prompts=8"], ["has 8 usable rows; eval.num_prompts=8"]),
    (["data.max_rows=2"], ["has 2 usable rows"]),
]


@pytest.mark.parametrize(("overrides", "needles"), DATA_PATH_CASES, ids=[c[0][0] for c in DATA_PATH_CASES])
def test_bad_data_setting_at_train_time(cli, overrides, needles):
    rejected(cli("train", "base.yaml", *overrides), *needles)


@pytest.mark.parametrize("command", [["train", "base.yaml", "--dry-run"], ["train", "base.yaml"]])
def test_missing_data_file_named_before_anything_is_written(cli, command):
    rejected(cli(*command, "data.dataset=gone.jsonl"), "data.dataset: file not found: gone.jsonl")


@pytest.mark.parametrize(("name", "content", "phrase"), [("gone.jsonl", None, "file not found: gone.jsonl"),
                                                         ("d.jsonl", "{bad\n", "d.jsonl: line 1 is not JSON")])
def test_pipeline_train_checks_before_making_the_run_directory(cli, tmp_path, name, content, phrase):
    """The Python API (``rayrlhf.run.entry.train``) runs the same preflight as the CLI, before ``new_run_dir``."""
    from rayrlhf.config import ConfigError, load_config
    from rayrlhf.data.prompts import DataError
    from rayrlhf.run.entry import train

    work = tmp_path / "work"
    if content is not None:
        (work / name).write_text(content)
    before = listing(work)
    with pytest.raises((ConfigError, DataError), match=phrase):
        train(load_config(work / "base.yaml", [f"data.dataset={name}"]), log=lambda m: None)
    assert listing(work) == before and not (work / "out").exists()


# -- models and other paths, at dry-run and train time -------------------------------------------------------

MODEL_CASES = [
    (["policy.model=./no_model"], ["policy.model='./no_model': no such directory"]),
    (["policy.model=/no/such/model/dir"], ["policy.model='/no/such/model/dir': no such directory"]),
    (["policy.model=base.yaml"], ["policy.model='base.yaml': no such directory (it is a file)"]),
    (["policy.model=."], ["policy.model='.'", "holds no config.json"]),
    (["policy.model=builtin:nope"], ["policy.model='builtin:nope': unknown built-in model"]),
    (["policy.tokenizer=./no_tok"], ["policy.tokenizer='./no_tok': no such directory"]),
    (["sources.1.kind=lm_logprob", "sources.1.model=./no_lm"], ["sources.1.model='./no_lm': no such directory"]),
    (["sources.1.kind=lm_logprob", "sources.1.model=builtin:judge_lm", "sources.1.ref_model=./no_ref"],
     ["sources.1.ref_model='./no_ref': no such directory"]),
    (["sources.1.kind=classifier", "sources.1.model=./no_rm"], ["sources.1.model='./no_rm': no such directory"]),
    (["sources.1.kind=bertscore", "sources.1.model=./no_enc"], ["sources.1.model='./no_enc': no such directory"]),
    (["oracle.reward.kind=classifier", "oracle.reward.model=./no_oracle"], ["oracle.reward.model='./no_oracle': no such directory"]),
    (["run.output_dir=base.yaml"], ["run.output_dir='base.yaml' is a file"]),
    (["run.output_dir=base.yaml/sub"], ["run.output_dir='base.yaml/sub': cannot create it (base.yaml is a file)"]),
    (['run.output_dir=""'], ["run.output_dir is empty"]),
]


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "train"])
@pytest.mark.parametrize(("overrides", "needles"), MODEL_CASES, ids=[c[0][-1] for c in MODEL_CASES])
def test_bad_model_or_output_path(cli, dry, overrides, needles):
    rejected(cli("train", "base.yaml", *(["--dry-run"] if dry else []), *overrides), "preflight found problems", *needles)


LOADED_MODEL_CASES = [
    ([], ["policy.model='./bad_model': could not load the local directory"]),
    (["sources.0.model=nocolon"], ["sources.0.model: python source model must look like 'package.module:function'"]),
    (["sources.0.model=no_such_module_xyz:f"], ["sources.0.model: cannot import module 'no_such_module_xyz'"]),
    (["sources.0.model=rayrlhf.rewards.heuristics:nope"], ["sources.0.model: 'rayrlhf.rewards.heuristics' has no callable 'nope'"]),
    (["oracle.reward.model=rayrlhf.rewards.heuristics:REFUSAL"], ["oracle.reward.model: ", "has no callable 'REFUSAL'"]),
]


@pytest.mark.parametrize(("overrides", "needles"), LOADED_MODEL_CASES, ids=[(c[0] or ["bad config.json"])[0] for c in LOADED_MODEL_CASES])
def test_models_that_do_not_load_stop_train_before_the_run_directory(cli, overrides, needles):
    rejected(cli("train", "base.yaml", *overrides), *needles)


def test_model_with_config_but_no_tokenizer(cli):
    config = json.dumps({"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
                         "intermediate_size": 16, "vocab_size": 32})
    rejected(cli("train", "base.yaml", "policy.model=./half_model", files={"half_model/config.json": config}),
             "policy.model='./half_model': could not load the local directory")


def test_missing_tracker_package(cli, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    for command in (["train", "base.yaml", "--dry-run"], ["train", "base.yaml"]):
        rejected(cli(*command, "tracking.wandb=true"), "tracking.wandb=true needs the 'wandb' package")


def test_existing_run_is_refused_by_a_dry_run(cli):
    rejected(cli("train", "base.yaml", "--dry-run", files={"out/config.yaml": "run: {}\n"}), "out already holds a run")


# -- pairs files -------------------------------------------------------------------------------------------

PAIR_ROW_CASES = [(f"{field}:{kind}", field, value, phrase)
                  for field in ("chosen", "rejected") for kind, value, phrase in BAD_VALUES]
PAIR_ROW_CASES += [(f"{field}:{kind}", field, value, f"is not text (got {kind})")
                   for field in ("prompt", "reference") for kind, value in [("int", 3), ("list", ["a"]), ("dict", {"a": 1})]]


@pytest.mark.parametrize(("case", "field", "value", "phrase"), PAIR_ROW_CASES, ids=[c[0] for c in PAIR_ROW_CASES])
def test_bad_pairs_row(cli, case, field, value, phrase):
    rows = [dict(PAIR) for _ in range(4)]
    if value is None and case.endswith("missing"):
        del rows[2][field]
    else:
        rows[2][field] = value
    text = jsonl(rows[:2]) + "\n" + jsonl(rows[2:])  # a blank line: row 2 is on line 4
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "p.jsonl", files={"p.jsonl": text}),
             "p.jsonl: row 2: ", f"field '{field}' {phrase}", "(line 4)")


PAIR_LINE_CASES = [("null", "(got null)"), ('"a string"', '(got a string "a string")'), ("[1, 2]", "(got a list [1, 2])"),
                   ("7", "(got 7)"), ("true", "(got a boolean true)")]


@pytest.mark.parametrize(("line", "phrase"), PAIR_LINE_CASES, ids=[c[0] for c in PAIR_LINE_CASES])
def test_pairs_row_that_is_not_an_object(cli, line, phrase):
    text = jsonl([PAIR]) + line + "\n" + jsonl([PAIR])
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "p.jsonl", files={"p.jsonl": text}),
             "p.jsonl: row 1: is not an object with fields ['chosen', 'rejected']", phrase, "(line 2)")


PAIR_FILE_CASES = [
    ("p.jsonl", "", ["p.jsonl: holds no rows"]),
    ("p.jsonl", "\n\n", ["p.jsonl: holds no rows"]),
    ("p.jsonl", jsonl([PAIR]) + "{oops\n", ["p.jsonl: line 2 is not JSON"]),
    ("p.jsonl", b"\xff" + jsonl([PAIR]).encode(), ["--pairs p.jsonl: not UTF-8 text"]),
    ("other.jsonl", jsonl([PAIR]), ["--pairs: file not found: p.jsonl"]),
]


@pytest.mark.parametrize(("name", "content", "needles"), PAIR_FILE_CASES, ids=[c[2][0][:28] for c in PAIR_FILE_CASES])
def test_bad_pairs_file(cli, name, content, needles):
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "p.jsonl", files={name: content}), *needles)


def test_pairs_all_skipped_and_pairs_dir(cli):
    rows = [dict(PAIR, chosen="") for _ in range(3)]
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "p.jsonl", "data.on_bad_row=skip", files={"p.jsonl": jsonl(rows)}),
             "p.jsonl: no usable pairs (3 rows, 3 skipped")
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "bad_model"), "--pairs: file not found: bad_model (a directory)")


# -- and good input still goes through ----------------------------------------------------------------------

def _tiny_model_dir(path: Path) -> Path:
    """A Hugging Face directory with a config and a tokenizer, no weights (all the preflight reads)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "document", "summary", "number"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>").save_pretrained(path)
    LlamaConfig(vocab_size=len(vocab), hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2).save_pretrained(path)
    return path


def test_preflight_lets_good_input_through_and_writes_nothing(cli, tmp_path):
    from rayrlhf.config import load_config
    from rayrlhf.run.preflight import preflight

    model = _tiny_model_dir(tmp_path / "tiny_model")
    cfg = load_config(tmp_path / "work" / "base.yaml", [f"policy.model={model}", "sources.1.kind=classifier",
                                                        f"sources.1.model={model}"])
    before = listing(tmp_path / "work")
    preflight(cfg)  # raises on any problem
    assert listing(tmp_path / "work") == before
    out = cli("train", "base.yaml", "--dry-run", f"policy.model={model}")
    assert out.rc == 0 and not out.changed and "checked:" in out.out

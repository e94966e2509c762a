"""Bad input, generated: config keys x bad values, YAML files, data rows and files, pairs files, CLI arguments.

Every case runs the CLI in-process (``rayrlhf.cli.main``) in a scratch working directory and must exit
non-zero (2: a usage, config or data error) within 3 s, with a message naming the key, or the file and the
row, no traceback, and the directory exactly as it was. Nothing here starts Ray or loads model weights:
config cases use ``train --dry-run``, data cases ``train`` (which fails in its preflight, before the run
directory exists), pairs cases ``rewards evaluate --pairs`` with a ``python`` source.
"""

from __future__ import annotations

import json
import sys
import time
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel

from rayrlhf.cli import main
from rayrlhf.config import Config

BASE_YAML = """\
run: {output_dir: out}
data: {dataset: prompts.jsonl, prompt_field: text, reference_field: summary}
policy: {model: ./bad_model}
eval: {num_prompts: 2}
sources:
  - {name: brevity, kind: python, model: "rayrlhf.rewards.heuristics:brevity"}
  - {name: rouge, kind: rouge}
"""
GOOD_ROWS = [{"text": f"document number {i}", "summary": f"summary {i}"} for i in range(8)]


@pytest.fixture(scope="module", autouse=True)
def _warm_imports():
    """Import what the cases reach once, outside their 3 s: datasets, transformers' auto classes, the pipeline."""
    import datasets  # noqa: F401
    from transformers import AutoConfig, AutoTokenizer  # noqa: F401

    import rayrlhf.compare  # noqa: F401
    import rayrlhf.pipeline  # noqa: F401
    import rayrlhf.preflight  # noqa: F401
    import rayrlhf.report  # noqa: F401
    import rayrlhf.reward_eval  # noqa: F401
    import rayrlhf.rewards.heuristics  # noqa: F401
    import rayrlhf.sweep  # noqa: F401
    import rayrlhf.task.oracle  # noqa: F401


def _listing(root: Path) -> set:
    return {(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@dataclass
class Outcome:
    rc: int
    out: str
    err: str
    seconds: float
    changed: list


def _jsonl(rows) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """``cli(*argv, files={name: text|bytes})``: write ``files`` into a scratch working directory holding
    base.yaml, prompts.jsonl (8 good rows) and bad_model/ (a config.json that does not parse), then run."""
    work = tmp_path / "work"
    (work / "bad_model").mkdir(parents=True)
    (work / "bad_model" / "config.json").write_text("{not json")
    (work / "base.yaml").write_text(BASE_YAML)
    (work / "prompts.jsonl").write_text(_jsonl(GOOD_ROWS))
    monkeypatch.chdir(work)

    def run(*argv: str, files: dict | None = None) -> Outcome:
        for name, content in (files or {}).items():
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        before = _listing(work)
        capsys.readouterr()
        t0 = time.perf_counter()
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse
            rc = exc.code
        seconds = time.perf_counter() - t0
        captured = capsys.readouterr()
        return Outcome(rc, captured.out, captured.err, seconds, sorted(_listing(work) ^ before))

    return run


def rejected(o: Outcome, *needles: str, rc: int = 2) -> None:
    assert o.rc == rc, f"exit {o.rc}, wanted {rc}; stderr:\n{o.err}"
    assert "Traceback" not in o.err, o.err
    for needle in needles:
        assert needle in o.err, f"{needle!r} not in the message:\n{o.err}"
    assert o.seconds < 3.0, f"took {o.seconds:.2f}s"
    assert not o.changed, f"wrote or changed {o.changed}"
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized(), "a bad-input case started Ray"


# -- config keys x bad values (generated from the schema) -------------------------------------------------

def _leaves(model: type[BaseModel], prefix: str = ""):
    """(dotted key, type, constraints) for every leaf field; lists of sections are addressed at index 0."""
    for name, info in model.model_fields.items():
        ann = info.annotation
        if typing.get_origin(ann) in (typing.Union, types.UnionType):
            ann = next(a for a in typing.get_args(ann) if a is not type(None))
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _leaves(ann, f"{prefix}{name}.")
        elif typing.get_origin(ann) is list:
            yield from _leaves(typing.get_args(ann)[0], f"{prefix}{name}.0.")
        else:
            yield f"{prefix}{name}", ann, info.metadata


def _bound_cases(key: str, metadata: list, step: float) -> list:
    cases = []
    for c in metadata:
        if isinstance(c, Gt):
            cases.append((key, f"{c.gt}", key, f"greater than {c.gt:g}"))
        elif isinstance(c, Ge):
            cases.append((key, f"{c.ge - step}", key, f"greater than or equal to {c.ge:g}"))
        elif isinstance(c, Lt):
            cases.append((key, f"{c.lt}", key, f"less than {c.lt:g}"))
        elif isinstance(c, Le):
            cases.append((key, f"{c.le + step}", key, f"less than or equal to {c.le:g}"))
    return cases


def _value_cases() -> list[tuple[str, str, str, str]]:
    """(key, override value, key the message must name, phrase it must hold)."""
    cases = []
    for key, ann, metadata in _leaves(Config):
        if ann is float:
            cases += [(key, v, key, phrase) for v, phrase in [("abc", "valid number"), (".inf", "finite number"),
                                                              ("-.inf", "finite number"), (".nan", "finite number"),
                                                              ("[1]", "valid number")]]
            cases += _bound_cases(key, metadata, 1.0)
        elif ann is int:
            cases += [(key, v, key, phrase) for v, phrase in [("abc", "valid integer"), ("1.5", "fractional part"),
                                                              (".inf", "finite number"), (".nan", "finite number")]]
            cases += _bound_cases(key, metadata, 1)
        elif ann is bool:
            cases += [(key, v, key, "valid boolean") for v in ("maybe", "2", "[1]")]
        elif typing.get_origin(ann) is typing.Literal:
            cases += [(key, v, key, "Input should be") for v in ("bogus", "1")]
        elif ann is str:
            cases += [(key, v, key, "valid string") for v in ("[1, 2]", "{a: 1}")]
        elif typing.get_origin(ann) is dict:
            cases += [(key, "{x: .nan}", f"{key}.x", "finite number"), (key, "{x: .inf}", f"{key}.x", "finite number"),
                      (key, "{x: abc}", f"{key}.x", "valid number"), (key, "[1]", key, "valid dictionary"),
                      (key, "{x: -1}", key, "cannot be negative"), (key, "{GPU: 1}", key, "num_cpus / num_gpus")]
        else:
            raise AssertionError(f"no bad values for {key}: {ann}")
    return cases


VALUE_CASES = _value_cases()


@pytest.mark.parametrize(("key", "value", "named", "phrase"), VALUE_CASES, ids=[f"{c[0]}={c[1]}" for c in VALUE_CASES])
def test_config_key_bad_value(cli, key, value, named, phrase):
    rejected(cli("train", "base.yaml", "--dry-run", f"{key}={value}"), f"{named}: ", phrase)


TYPO_KEYS = [key for key, _, _ in _leaves(Config)]


@pytest.mark.parametrize("key", TYPO_KEYS)
def test_misspelt_key_is_named_with_the_right_one(cli, key):
    rejected(cli("train", "base.yaml", "--dry-run", f"{key}x=1"), f"unknown key '{key}x'", f"did you mean '{key}'?")


SECTIONS = ["run", "task", "data", "policy", "rollout", "oracle", "oracle.reward", "transfer", "optim", "train", "eval",
            "tracking", "sources.0"]


@pytest.mark.parametrize("section", SECTIONS)
def test_unknown_key_in_each_section(cli, section):
    rejected(cli("train", "base.yaml", "--dry-run", f"{section}.zzz_unknown=1"), f"unknown key '{section}.zzz_unknown'")


@pytest.mark.parametrize("section", [s for s in SECTIONS if "." not in s])
def test_section_that_is_a_scalar(cli, section):
    rejected(cli("train", "--dry-run", "bad.yaml", files={"bad.yaml": f"{section}: 5\n"}), f"{section}: ", "Input should be")


# -- source names, cross-field rules, seeds ---------------------------------------------------------------

BAD_NAMES = [("", "non-empty"), ("../x", "path separator"), ("a/b", "path separator"), ("a\\\\b", "path separator"),
             (".hidden", "starts with '.'"), ("a..b", "contains '..'"), ("a b", "' '"), ("na$me", "'$'"),
             ("fixed:x", "':'"), ("é", "'é'"), ("x" * 65, "65 characters"), ("[1]", "valid string")]


@pytest.mark.parametrize("where", ["sources.0", "sources.1", "oracle.reward"])
@pytest.mark.parametrize(("name", "phrase"), BAD_NAMES, ids=[repr(n[:12]) for n, _ in BAD_NAMES])
def test_unsafe_source_name(cli, where, name, phrase):
    value = f'"{name}"' if name in ("", "a b") else name
    rejected(cli("train", "base.yaml", "--dry-run", f"{where}.name={value}"), f"{where}.name: ", phrase)


CROSS_CASES = [
    (["rollout.temperature=0"], ["rollout.temperature=0", "K=train.responses_per_prompt=8", "temperature > 0"]),
    (["rollout.temperature=0", "train.responses_per_prompt=2"], ["rollout.temperature=0", "K=train.responses_per_prompt=2"]),
    (["rollout.temperature=0.0", "transfer.best_of_n=4"], ["rollout.temperature=0", "N=transfer.best_of_n=4"]),
    (["eval.temperature=0"], ["eval.temperature=0", "eval.samples_per_prompt=4", "eval.samples_per_prompt=1"]),
    (["eval.temperature=0", "eval.samples_per_prompt=2"], ["eval.samples_per_prompt=2"]),
    (["transfer.num_replace=9"], ["transfer.num_replace=9 exceeds"]),
    (["transfer.mode=fixed:nope"], ["transfer.mode 'fixed:nope' names no configured source"]),
    (["transfer.mode=greedy"], ["transfer.mode: ", "must be 'ucb', 'none'"]),
    (["sources.1.name=brevity"], ["repeated: ['brevity']"]),
    (["sources.1.name=self"], ["'self' is the no-transfer arm"]),
    (["sources.0.model=null"], ["source 'brevity' of kind 'python' needs `model`"]),
    (["sources.1.ref_model=x"], ["`ref_model` only applies to kind 'lm_logprob'"]),
    (["data.prompt_template=Doc"], ["data.prompt_template: ", "must contain '{prompt}'"]),
    (["sources.0.prompt_template={prompt} {x}"], ["sources.0.prompt_template: ", "only '{prompt}' may be substituted"]),
    (["sources.1.rouge_type=rouge0"], ["sources.1.rouge_type: ", "rougeLsum"]),
    (["sources.1.rouge_type=bleu"], ["sources.1.rouge_type: "]),
    (["run.seed=-1"], ["run.seed: ", "2**32 - 1"]),
    (["run.seed=4294967296"], ["run.seed: ", "2**32 - 1"]),
    (["task.seed=-5"], ["task.seed: ", "2**32 - 1"]),
]


@pytest.mark.parametrize(("overrides", "needles"), CROSS_CASES, ids=[" ".join(c[0]) for c in CROSS_CASES])
def test_cross_field_rules(cli, overrides, needles):
    rejected(cli("train", "base.yaml", "--dry-run", *overrides), *needles)


# -- YAML files and override syntax -------------------------------------------------------------------------

YAML_CASES = [
    ("optim:\n  beta: 0.2\noptim:\n  lr: 0.1\n", ["bad.yaml", "found key 'optim' twice (first on line 1)", "line 3"]),
    ("optim:\n  beta: 0.2\n  beta: 0.3\n", ["found key 'beta' twice (first on line 2)", "line 3"]),
    ("sources:\n  - {name: a, kind: rouge, name: b}\n", ["found key 'name' twice"]),
    ("rollout:\n  resources: {x: 1}\n  resources: {y: 1}\n", ["found key 'resources' twice"]),
    ("run: {seed: 1, seed: 2}\n", ["found key 'seed' twice"]),
    ("optim: {beta: 0.2\n", ["bad.yaml is not valid YAML"]),
    ("optim:\n\tbeta: 0.2\n", ["bad.yaml is not valid YAML"]),
    ("run: !!python/object/apply:os.system ['echo pwned']\n", ["bad.yaml is not valid YAML"]),
    ("- 1\n- 2\n", ["bad.yaml must hold a mapping", "got list"]),
    ("just a string\n", ["bad.yaml must hold a mapping", "got str"]),
    ("sources: 5\n", ["sources: ", "valid list"]),
    ("sources:\n  - null\n", ["sources.0: "]),
    ("sources:\n  - {kind: rouge}\n", ["sources.0.name: ", "Field required"]),
    ("sources:\n  - {name: a}\n", ["sources.0.kind: ", "Field required"]),
    ("optimm:\n  beta: 0.2\n", ["unknown key 'optimm'", "did you mean 'optim'?"]),
    ("1: 2\n", ["1: Keys should be strings"]),
    ("optim:\n  beta: .inf\n", ["optim.beta: ", "finite number"]),
    ("sources:\n  - {name: x, kind: rouge, weight: .nan}\n", ["sources.0.weight: ", "finite number"]),
    (b"optim:\n  beta: \xff\xfe\n", ["bad.yaml is not UTF-8"]),
]


@pytest.mark.parametrize(("text", "needles"), YAML_CASES, ids=[repr(c[0][:24]) for c in YAML_CASES])
def test_bad_yaml_file(cli, text, needles):
    rejected(cli("train", "bad.yaml", "--dry-run", files={"bad.yaml": text}), *needles)


def test_missing_or_directory_config(cli):
    rejected(cli("train", "nope.yaml", "--dry-run"), "config file not found: nope.yaml")
    rejected(cli("train", "bad_model", "--dry-run"), "config file not found: bad_model (a directory)")


OVERRIDE_CASES = [
    ("optim.beta", "not of the form key=value"),
    ("=1", "empty key part"),
    ("optim..beta=1", "empty key part"),
    (".beta=1", "empty key part"),
    ("sources.x.weight=1", "'sources.x' indexes a list of 2 items"),
    ("sources.5.weight=1", "'sources.5' indexes a list of 2 items"),
    ("run.output_dir.x=1", "'run.output_dir' is a value, not a section"),
    ("rollout.resources={x: 1, x: 2}", "found key 'x' twice"),
]


@pytest.mark.parametrize(("override", "phrase"), OVERRIDE_CASES, ids=[c[0] for c in OVERRIDE_CASES])
def test_bad_override_syntax(cli, override, phrase):
    rejected(cli("train", "base.yaml", override, "--dry-run"), f"override {override!r}", phrase)


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
    rows = _rows_with(field, kind, value, at)
    text = _jsonl(rows) if fmt == "jsonl" else json.dumps(rows)
    rejected(cli("train", "base.yaml", f"data.dataset=data.{fmt}", files={f"data.{fmt}": text}),
             f"data.{fmt}", f"row {at}: field '{field}' {phrase}")


def test_bad_rows_skipped_leave_too_few(cli):
    rows = [dict(r, text="") if i else r for i, r in enumerate(GOOD_ROWS)]
    rejected(cli("train", "base.yaml", "data.dataset=d.jsonl", "data.on_bad_row=skip", files={"d.jsonl": _jsonl(rows)}),
             "d.jsonl", "1 usable rows", "eval.num_prompts=2")


GOOD = _jsonl(GOOD_ROWS)
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
    ("d.jsonl", _jsonl([{"document": "a", "summary": "b"}] * 4), ["d.jsonl", "no column(s) ['text']"]),
    ("d.jsonl", _jsonl(GOOD_ROWS[:2]), ["d.jsonl", "has 2 usable rows; eval.num_prompts=2 would leave none to train on"]),
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
    """The Python API (``rayrlhf.pipeline.train``) runs the same preflight as the CLI, before ``new_run_dir``."""
    from rayrlhf.config import ConfigError, load_config
    from rayrlhf.data import DataError
    from rayrlhf.pipeline import train

    work = tmp_path / "work"
    if content is not None:
        (work / name).write_text(content)
    before = _listing(work)
    with pytest.raises((ConfigError, DataError), match=phrase):
        train(load_config(work / "base.yaml", [f"data.dataset={name}"]), log=lambda m: None)
    assert _listing(work) == before and not (work / "out").exists()


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

PAIR = {"prompt": "Q?", "chosen": "short.", "rejected": "a much longer answer."}
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
    text = _jsonl(rows[:2]) + "\n" + _jsonl(rows[2:])  # a blank line: row 2 is on line 4
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "p.jsonl", files={"p.jsonl": text}),
             "p.jsonl: row 2: ", f"field '{field}' {phrase}", "(line 4)")


PAIR_LINE_CASES = [("null", "(got null)"), ('"a string"', '(got a string "a string")'), ("[1, 2]", "(got a list [1, 2])"),
                   ("7", "(got 7)"), ("true", "(got a boolean true)")]


@pytest.mark.parametrize(("line", "phrase"), PAIR_LINE_CASES, ids=[c[0] for c in PAIR_LINE_CASES])
def test_pairs_row_that_is_not_an_object(cli, line, phrase):
    text = _jsonl([PAIR]) + line + "\n" + _jsonl([PAIR])
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "p.jsonl", files={"p.jsonl": text}),
             "p.jsonl: row 1: is not an object with fields ['chosen', 'rejected']", phrase, "(line 2)")


PAIR_FILE_CASES = [
    ("p.jsonl", "", ["p.jsonl: holds no rows"]),
    ("p.jsonl", "\n\n", ["p.jsonl: holds no rows"]),
    ("p.jsonl", _jsonl([PAIR]) + "{oops\n", ["p.jsonl: line 2 is not JSON"]),
    ("p.jsonl", b"\xff" + _jsonl([PAIR]).encode(), ["--pairs p.jsonl: not UTF-8 text"]),
    ("other.jsonl", _jsonl([PAIR]), ["--pairs: file not found: p.jsonl"]),
]


@pytest.mark.parametrize(("name", "content", "needles"), PAIR_FILE_CASES, ids=[c[2][0][:28] for c in PAIR_FILE_CASES])
def test_bad_pairs_file(cli, name, content, needles):
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "p.jsonl", files={name: content}), *needles)


def test_pairs_all_skipped_and_pairs_dir(cli):
    rows = [dict(PAIR, chosen="") for _ in range(3)]
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "p.jsonl", "data.on_bad_row=skip", files={"p.jsonl": _jsonl(rows)}),
             "p.jsonl: no usable pairs (3 rows, 3 skipped")
    rejected(cli("rewards", "evaluate", "base.yaml", "--pairs", "bad_model"), "--pairs: file not found: bad_model (a directory)")


# -- CLI arguments ---------------------------------------------------------------------------------------

CLI_CASES = [
    ([], ["the following arguments are required: COMMAND"]),
    (["frob"], ["invalid choice: 'frob'"]),
    (["--bogus"], ["the following arguments are required: COMMAND"]),
    (["train", "base.yaml", "--dry-run", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["train", "base.yaml", "--dry-run", "stray"], ["unrecognized arguments: stray"]),
    (["train"], ["rayrlhf train needs a CONFIG"]),
    (["train", "--resume", "nowhere"], ["--resume nowhere: no config.yaml there"]),
    (["train", "--resume", "nowhere", "--dry-run"], ["--resume nowhere: no config.yaml there"]),
    (["train", "base.yaml", "--resume", "out"], ["--resume takes the run's own config.yaml"]),
    (["rewards"], ["required: ACTION"]),
    (["rewards", "evaluate"], ["required: config"]),
    (["rewards", "evaluate", "optim.beta=1"], ["'optim.beta=1' is a key=value override; give the CONFIG file first"]),
    (["rewards", "evaluate", "empty.yaml", "--pairs", "p.jsonl"], ["no sources configured"]),
    (["rewards", "evaluate", "base.yaml"], ["without --pairs, `rewards evaluate` samples the built-in task"]),
    (["rewards", "evaluate", "base.yaml", "data.dataset=builtin", "policy.model=builtin", "eval.temperature=0",
      "eval.samples_per_prompt=1"], ["eval.temperature=0 (greedy) would sample the same response twice"]),
    (["task"], ["required: ACTION"]),
    (["task", "build", "--force", "--nope"], ["unrecognized arguments: --nope"]),
    (["compare", "base.yaml"], ["required: --methods"]),
    (["compare", "base.yaml", "--methods", "ucb"], ["--methods needs two or more distinct modes"]),
    (["compare", "base.yaml", "--methods", "ucb,ucb"], ["--methods needs two or more distinct modes"]),
    (["compare", "base.yaml", "--methods", "ucb,fixed:nope"], ["--methods: 'fixed:nope' is not a valid transfer.mode"]),
    (["compare", "base.yaml", "--methods", "ucb,none", "--seeds", "0"], ["argument --seeds: '0': give a whole number, 1 or more"]),
    (["compare", "base.yaml", "--methods", "ucb,none", "--seeds", "-1"], ["argument --seeds"]),
    (["compare", "base.yaml", "--methods", "ucb,none", "--seeds", "two"], ["argument --seeds: 'two'"]),
    (["compare", "base.yaml", "--methods", "ucb,none", "--max-concurrent", "0"], ["argument --max-concurrent: '0'"]),
    (["compare", "base.yaml", "--methods", "ucb,none", "data.dataset=gone.jsonl"], ["data.dataset: file not found: gone.jsonl"]),
    (["compare", "base.yaml", "--methods", "ucb,none", "sources.0.name=../up"], ["sources.0.name: ", "path separator"]),
    (["sweep"], ["rayrlhf sweep needs CONFIG and at least one --grid"]),
    (["sweep", "base.yaml"], ["rayrlhf sweep needs CONFIG and at least one --grid"]),
    (["sweep", "base.yaml", "--grid", "optim.beta"], ["--grid 'optim.beta'"]),
    (["sweep", "base.yaml", "--grid", "optim.beta=0.1", "--scheduler", "hyperband"], ["argument --scheduler: invalid choice"]),
    (["sweep", "base.yaml", "--grid", "optim.beta=0.1", "--max-concurrent", "-2"], ["argument --max-concurrent: '-2'"]),
    (["theory"], ["required: ACTION"]),
    (["theory", "lemma", "--instances", "0"], ["argument --instances: '0': give a whole number, 1 or more"]),
    (["theory", "lemma", "--instances", "many"], ["argument --instances: 'many'"]),
    (["theory", "regret", "--T", "1"], ["argument --T: '1': give a whole number, 2 or more"]),
    (["theory", "regret", "--seeds", "0"], ["argument --seeds: '0'"]),
    (["theory", "regret", "--width-c", "nan"], ["argument --width-c: 'nan': give a finite number, 0 or more"]),
    (["theory", "regret", "--width-c", "-1"], ["argument --width-c: '-1'"]),
    (["theory", "regret", "--selection", "magic"], ["argument --selection: invalid choice: 'magic'"]),
    (["report"], ["required: RUN_DIR"]),
    (["report", "nowhere"], ["nowhere: no such directory"]),
    (["report", "base.yaml"], ["base.yaml: is a file, not a directory"]),
    (["report", "bad_model"], ["bad_model holds no rayrlhf run (no config.yaml or compare.json)"]),
]


@pytest.mark.parametrize(("argv", "needles"), CLI_CASES, ids=[" ".join(c[0]) or "<none>" for c in CLI_CASES])
def test_bad_cli_arguments(cli, argv, needles):
    rejected(cli(*argv, files={"empty.yaml": "run: {seed: 1}\n", "p.jsonl": _jsonl([PAIR])}), *needles)


REPORT_DIRS = [
    ({"r/config.yaml": "run: {seed: 0}\n"}, ["r has no finished iteration yet"]),
    ({"r/config.yaml": "run: {seed: 0}\n", "r/metrics.jsonl": "\n"}, ["r has no finished iteration yet"]),
    ({"r/config.yaml": "optim: {betta: 1}\n", "r/metrics.jsonl": "{}\n"}, ["r/config.yaml", "unknown key 'optim.betta'"]),
    ({"r/config.yaml": "optim: [\n", "r/metrics.jsonl": "{}\n"}, ["r/config.yaml is not valid YAML"]),
    ({"r/compare.json": "{not json"}, ["r/compare.json is damaged"]),
    ({"r/compare.json": '{"runs": {}}'}, ["r/compare.json lists no finished runs yet"]),
    ({"r/compare.json": "[1]"}, ["r/compare.json is damaged"]),
]


@pytest.mark.parametrize(("files", "needles"), REPORT_DIRS, ids=[c[1][0][:30] for c in REPORT_DIRS])
def test_report_on_a_directory_without_results(cli, files, needles):
    rejected(cli("report", "r", files=files), *needles)


def test_case_count():
    """The suite's size, for the record (issue: at least 200 generated cases)."""
    counts = {
        "config key x bad value": len(VALUE_CASES), "misspelt keys": len(TYPO_KEYS), "unknown keys": len(SECTIONS),
        "scalar sections": len([s for s in SECTIONS if "." not in s]), "source names": 3 * len(BAD_NAMES),
        "cross-field": len(CROSS_CASES), "yaml files": len(YAML_CASES) + 2, "override syntax": len(OVERRIDE_CASES),
        "data rows": 2 * 2 * len(BAD_VALUES) + 2, "data files": len(FILE_CASES) + len(DATA_PATH_CASES) + 2,
        "models and paths": 2 * len(MODEL_CASES) + len(LOADED_MODEL_CASES) + 4,
        "pairs": len(PAIR_ROW_CASES) + len(PAIR_LINE_CASES) + len(PAIR_FILE_CASES) + 2,
        "cli arguments": len(CLI_CASES) + len(REPORT_DIRS),
    }
    print(counts, sum(counts.values()))
    assert sum(counts.values()) >= 200


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
    from rayrlhf.preflight import preflight

    model = _tiny_model_dir(tmp_path / "tiny_model")
    cfg = load_config(tmp_path / "work" / "base.yaml", [f"policy.model={model}", "sources.1.kind=classifier",
                                                        f"sources.1.model={model}"])
    before = _listing(tmp_path / "work")
    preflight(cfg)  # raises on any problem
    assert _listing(tmp_path / "work") == before
    out = cli("train", "base.yaml", "--dry-run", f"policy.model={model}")
    assert out.rc == 0 and not out.changed and "checked:" in out.out

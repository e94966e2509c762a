"""Bad input, generated: config keys x bad values (from the schema), YAML files, overrides, CLI arguments,
``rayrlhf report`` directories. The harness (tests/support/bad_input.py) runs each case in-process in a scratch
directory: exit 2 within 3 s, a message naming the key (or file and row), no traceback, nothing written."""

from __future__ import annotations

import types
import typing

import pytest
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel

from rayrlhf.config import Config
from tests.support.bad_input import PAIR, jsonl, rejected, warm_imports


@pytest.fixture(scope="module", autouse=True)
def _warm():
    warm_imports()  # once, outside the cases' 3 s


# -- config keys x bad values (generated from the schema) -------------------------------------------------

def _leaves(model: type[BaseModel], prefix: str = ""):
    """(dotted key, type, constraints) for every leaf field; lists of sections are addressed at index 0."""
    for name, info in model.model_fields.items():
        ann = info.annotation
        if typing.get_origin(ann) in (typing.Union, types.UnionType):
            ann = next(a for a in typing.get_args(ann) if a is not type(None))
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _leaves(ann, f"{prefix}{name}.")
        elif typing.get_origin(ann) is list and issubclass(typing.get_args(ann)[0], BaseModel):
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
            allowed = {str(a) for a in typing.get_args(ann)}  # a value the command line reads as one of them is good
            cases += [(key, v, key, "Input should be") for v in ("bogus", "1", "2") if v not in allowed][:2]
        elif ann is str:
            cases += [(key, v, key, "valid string") for v in ("[1, 2]", "{a: 1}")]
        elif typing.get_origin(ann) is list:  # a list of names (or one name)
            cases += [(key, v, key, "Input should be a valid") for v in ("{a: 1}", "[1, [2]]")]
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
    (["sources.1.name=self"], ["sources[1].name='self' is reserved (the no-transfer arm)"]),
    (["sources.1.name=oracle"], ["sources[1].name='oracle' is reserved", "rename that source"]),
    (["sources.0.model=null"], ["source 'brevity' of kind 'python' needs `model`"]),
    (["sources.1.ref_model=x"], ["`ref_model` only applies to kind 'lm_logprob'"]),
    (["data.prompt_template=Doc"], ["data.prompt_template: ", "must contain '{prompt}'"]),
    (["sources.0.prompt_template={prompt} {x}"], ["sources.0.prompt_template: ", "only '{prompt}' may be substituted"]),
    (["sources.1.rouge_type=rouge0"], ["sources.1.rouge_type: ", "rougeLsum"]),
    (["sources.1.rouge_type=bleu"], ["sources.1.rouge_type: "]),
    (["run.seed=-1"], ["run.seed: ", "2**32 - 1"]),
    (["run.seed=4294967296"], ["run.seed: ", "2**32 - 1"]),
    (["task.seed=-5"], ["task.seed: ", "2**32 - 1"]),
    (["transfer.pairs=listwise", "optim.loss=ipo"], ["transfer.pairs=listwise", "optim.loss=ipo", "optim.loss=dpo"]),
    (["transfer.pairs=listwise", "transfer.pair_strategy=random"], ["transfer.pair_strategy=random", "max_min"]),
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
    (["compare", "base.yaml"], ["rayrlhf compare needs CONFIG and --methods"]),
    (["compare", "--resume", "nowhere"], ["--resume nowhere: no compare.json and config.yaml there"]),
    (["compare", "base.yaml", "--resume", "nowhere"], ["--resume takes the comparison's own config.yaml, methods and seeds"]),
    (["compare", "base.yaml", "--methods", ","], ["--methods needs one or more distinct methods"]),
    (["compare", "base.yaml", "--methods", "ucb,none,ucb"], ["listed twice: ucb"]),
    (["compare", "base.yaml", "--methods", "ucb,fixed:nope"], ["--methods: 'fixed:nope' is not a valid method", "names no configured source"]),
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
    rejected(cli(*argv, files={"empty.yaml": "run: {seed: 1}\n", "p.jsonl": jsonl([PAIR])}), *needles)


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

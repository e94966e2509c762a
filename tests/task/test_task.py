"""The built-in task: deterministic world, the gold oracle on hand-made cases, build and cache."""

import json

import pytest
from transformers import AutoConfig, AutoTokenizer

from rayrlhf.config import TaskConfig
from rayrlhf.task.build import build_task, resolve_model
from rayrlhf.task.oracle import gold_reward, gold_score
from rayrlhf.task.sources import abstractiveness, copy_length, verbosity
from rayrlhf.task.world import PROMPT_TEMPLATE, facts_of, make_split
from tests.support.paths import REPO

DOC = ("Norvale said on Monday that it will hire 50 workers in Oslo. Ana Torres, the company's chair, announced "
       "the plan. Rival Vantor has 20 sites near Lyon.")
PROMPT = PROMPT_TEMPLATE.format(document=DOC)
REF = "Norvale will hire 50 workers in Oslo, Ana Torres said."


def test_world_is_deterministic_and_consistent():
    a, b = make_split(3, 20), make_split(3, 20)
    assert a == b and make_split(4, 20) != a
    for row in a:
        f = facts_of(row)
        assert f.company in row["document"] and f.person in row["document"] and f.city in row["reference"]


@pytest.mark.parametrize(("response", "expected"), [
    (REF, 3.5),                                                        # all 5 facts, ideal length, well formed
    ("Norvale will hire 50 workers in Lyon, Ana Torres said.", 3.0 * 4 / 5 - 0.5 + 0.5),  # distractor city
    ("Norvale will hire 50 workers in Paris, Ana Torres said.", None),  # Paris is no world entity: just missing
    ("Norvale will hire 50 workers in Denver, Ana Torres said.", 3.0 * 4 / 5 - 1.0 + 0.5),  # hallucinated city
    ("Norvale will hire 50 workers", 3.0 * 3 / 5 - 0.08 * 5),         # short, no full stop
    ("Norvale Norvale will hire 50 workers in Oslo, Ana Torres said.", 3.0 - 0.08),  # stutter
])
def test_gold_oracle_by_hand(response, expected):
    score = gold_score(PROMPT, response, REF)
    if expected is None:
        assert score == pytest.approx(3.0 * 4 / 5 + 0.5)
    else:
        assert score == pytest.approx(expected)


def test_gold_oracle_needs_references_and_sources_differ_from_it():
    with pytest.raises(ValueError, match="needs the reference"):
        gold_reward([PROMPT], [REF], None)
    good, halluc = REF, "Norvale will hire 50 workers in Denver, Kavya Rao said."
    assert gold_score(PROMPT, good, REF) > gold_score(PROMPT, halluc, REF)
    assert abstractiveness([PROMPT] * 2, [good, halluc])[1] > abstractiveness([PROMPT] * 2, [good, halluc])[0]  # misleads
    assert copy_length([PROMPT] * 2, [good, halluc])[0] > copy_length([PROMPT] * 2, [good, halluc])[1]
    assert verbosity([PROMPT], ["a b c."]) == [3.0]


def test_build_is_cached_and_servable(tiny_task, tiny_config):
    again = build_task(tiny_config.task)
    assert again.root == tiny_task.root
    assert (tiny_task.root / "build.json").stat().st_mtime == (again.root / "build.json").stat().st_mtime
    for d in (tiny_task.policy_dir, tiny_task.judge_lm_dir):
        cfg = AutoConfig.from_pretrained(d)
        assert cfg.hidden_size // cfg.num_attention_heads >= 32 and not cfg.tie_word_embeddings  # vLLM-servable
        tok = AutoTokenizer.from_pretrained(d)
        assert tok("Summarize: x")["input_ids"][0] == tok.bos_token_id
    assert resolve_model("builtin:judge_lm", tiny_config.task) == str(tiny_task.judge_lm_dir)
    assert resolve_model("gpt2", tiny_config.task) == "gpt2"
    with pytest.raises(ValueError, match="unknown built-in model"):
        resolve_model("builtin:nope", tiny_config.task)
    info = tiny_task.info()
    assert info["policy"]["params"] > 0 and set(info["timings"]) >= {"policy_s", "judge_lm_s", "total_s"}


def test_build_is_deterministic(tmp_path):
    cfg = dict(num_train=16, num_eval=10, num_heldout=10, sft_steps=3, judge_lm_steps=2)
    a = build_task(TaskConfig(**cfg, cache_dir=str(tmp_path / "a")), log=lambda m: None)
    b = build_task(TaskConfig(**cfg, cache_dir=str(tmp_path / "b")), log=lambda m: None)
    for name in ("policy/model.safetensors", "judge_lm/model.safetensors", "policy/tokenizer.json"):
        assert (a.root / name).read_bytes() == (b.root / name).read_bytes(), name
    assert a.split("train")["prompt"] == b.split("train")["prompt"]
    assert not list(tmp_path.glob("*/*.tmp-*"))  # no half-built leftovers
    assert json.loads((a.root / "build.json").read_text())["key"] == a.root.name
    assert a.checksum() == b.checksum() == json.loads((a.root / "build.json").read_text())["checksum"]


BUILD_SCRIPT = """
import sys
from rayrlhf.config import TaskConfig
from rayrlhf.task import build
cfg = TaskConfig.model_validate_json(sys.argv[1])
if sys.argv[2] == "unpinned":  # the build's own steps in this process, on whatever path the environment gives it
    out = build.cache_dir(cfg) / "unpinned"
    print(build._build_into(cfg, out, lambda m: None)["checksum"])
else:
    print(build.build_task(cfg, log=lambda m: None).checksum())
"""


@pytest.mark.slow
def test_build_is_the_same_whatever_the_ambient_threads_and_instruction_set(tmp_path):
    """Another core count or CPU (simulated by torch's generic kernels, `ATEN_CPU_CAPABILITY=default`) builds the
    same world; the control shows that path would change the world without the build's pinned process."""
    import os
    import subprocess
    import sys

    from rayrlhf.task.pinned import PINNED_ENV

    def checksum(name, how="build", **env):
        cfg = TaskConfig(num_train=16, num_eval=10, num_heldout=10, sft_steps=4, judge_lm_steps=2,
                         cache_dir=str(tmp_path / name))
        ambient = {k: v for k, v in os.environ.items() if k not in PINNED_ENV}
        done = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, cfg.model_dump_json(), how], env={**ambient, **env},
                              capture_output=True, text=True, check=True, cwd=REPO)
        return done.stdout.split()[-1]

    native = checksum("native", OMP_NUM_THREADS="1")
    generic = checksum("generic", OMP_NUM_THREADS="4", ATEN_CPU_CAPABILITY="default")
    assert native == generic
    assert checksum("unpinned", how="unpinned", ATEN_CPU_CAPABILITY="default") != native  # the pin is what holds it
    info = json.loads(next((tmp_path / "generic").glob("task-*/build.json")).read_text())
    assert info["cpu_capability"] in ("AVX2", "DEFAULT") and info["checksum"] == generic


def test_a_failed_pinned_build_raises_one_line_naming_the_fix(capfd):
    from rayrlhf.task.pinned import build_in_pinned_process

    logged = []
    with pytest.raises(RuntimeError, match=r"building the built-in task failed \(exit 1.*rerun `rayrlhf task build"):
        build_in_pinned_process('{"sft_steps": "many"}', False, logged.append)
    assert "sft_steps" in capfd.readouterr().err  # the child's error reaches this process's stderr


def test_a_cache_without_a_checksum_gets_one_and_a_run_records_its_world(tmp_path):
    from rayrlhf.config import load_config
    from rayrlhf.experiments.provenance import world_section
    from rayrlhf.task.build import record_world, task_checksum

    cfg = load_config(REPO / "examples" / "quickstart.yaml", [
        f"task.cache_dir={tmp_path / 'cache'}", "task.num_train=16", "task.num_eval=10", "task.num_heldout=10",
        "task.sft_steps=2", "task.judge_lm_steps=2"])
    task = build_task(cfg.task, log=lambda m: None)
    info = json.loads((task.root / "build.json").read_text())
    expected = info.pop("checksum")
    (task.root / "build.json").write_text(json.dumps(info))  # as a build from before checksums were recorded
    assert task.checksum() == expected == task_checksum(task.root)
    assert json.loads((task.root / "build.json").read_text())["checksum"] == expected
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        run.mkdir()
        record_world(cfg, run)
    assert json.loads((runs[0] / "task.json").read_text())["checksum"] == expected
    lines = world_section(runs)
    assert f"- `summaries` checksum `{expected[:16]}`: 2 run(s)" in lines and not any("not comparable" in x for x in lines)
    (runs[1] / "task.json").write_text(json.dumps({"name": "summaries", "checksum": "0" * 64}))
    assert any("not comparable" in x for x in world_section(runs))

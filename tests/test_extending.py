"""Extending rayrlhf from outside it (docs/extending.md): the example package examples/plugin registers a source kind,
a labelling rule and an oracle backend through entry points; a run names them in its config like built-ins."""

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support.cli import env, ledger, rayrlhf, train
from tests.support.paths import REPO

PLUGIN = REPO / "examples" / "plugin"


def install_plugin(site: Path) -> Path:
    """The example package as an installed distribution under ``site`` (its module and a dist-info with the entry
    points its pyproject.toml declares), as ``pip install`` lays it out."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    shutil.copytree(PLUGIN / "rayrlhf_toy_plugin", site / "rayrlhf_toy_plugin")
    info = site / f"rayrlhf_toy_plugin-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items()) + "\n"
        for group, points in project["entry-points"].items()))
    return site


def plugin_env(site: Path) -> dict:
    return {"PYTHONPATH": f"{site}:{REPO}"}


def plugin_config(train_config: list[str], tmp_path: Path) -> list[str]:
    """The tests' train config with a ``toy_length`` source, the ``every_other`` rule, the ``shortest_first`` backend
    and the ``hinge`` loss."""
    raw = yaml.safe_load(Path(train_config[0]).read_text())
    raw["sources"].append({"name": "toylen", "kind": "toy_length", "num_cpus": 0.25})
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(raw))
    return [str(path), *train_config[1:], "oracle.labels_per_iteration=8", "oracle.query_selection=every_other",
            "oracle.backend=shortest_first", "optim.loss=hinge"]


def test_the_registries_load_what_the_entry_points_name(tmp_path):
    site = install_plugin(tmp_path / "site")
    check = """
import numpy as np
from rayrlhf.annotate.oracle import build_backend
from rayrlhf.config import Config
from rayrlhf.core.records import Query
from rayrlhf.experiments.methods import method_config
from rayrlhf.labelling import RoundView, rule_for
from rayrlhf.rewards import build_source
cfg = Config.model_validate({"sources": [{"name": "toylen", "kind": "toy_length"}], "train": {"prompts_per_iteration": 8},
                             "oracle": {"labels_per_iteration": 2, "query_selection": "every_other", "backend": "shortest_first"}})
print(build_source(cfg.sources[0]).score(["p", "p"], ["one two", " ".join(["w"] * 12)]))
rule = rule_for(cfg.oracle, 8)
print(rule.name, rule.split(RoundView(5), 2, np.random.default_rng(0)).human)
got = []
build_backend(cfg, ".", None).ask([Query("p", ("ccc", "a", "bb"), None)], lambda q, a: got.append(a.ranking))
print(got, method_config(cfg, "none+every_other").oracle.query_selection)
import torch
from rayrlhf.algorithms.losses import preference_loss
from rayrlhf.learner.step import loss_named
zero = torch.zeros(2)
print(loss_named("hinge").name, preference_loss("hinge", torch.tensor([2.0, 0.0]), zero, zero, zero, 0.5).losses.tolist())
"""
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env(**plugin_env(site)),
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == ["[-10.0, 0.0]", "every_other (0, 2, 4)", "[[1, 2, 0]] every_other",
                                       "hinge [0.0, 1.0]"]  # max(0, 1 - 0.5 * 2), max(0, 1 - 0)


def test_a_plugin_s_names_pass_the_dry_run_and_are_refused_without_it(tmp_path, train_config):
    site, config = install_plugin(tmp_path / "site"), plugin_config(train_config, tmp_path)
    rayrlhf("train", *config, "--dry-run", env_extra=plugin_env(site))
    refused = rayrlhf("train", *config, "--dry-run", check=False)
    assert refused.returncode != 0 and "sources.3.kind: " in refused.stderr and "rayrlhf.source_kinds" in refused.stderr


@pytest.mark.ray
def test_a_run_trains_with_a_plugin_s_source_rule_backend_and_loss(tmp_path, train_config):
    """People (the plugin's backend) label every other askable prompt of each round, whatever the quota, and rank
    shortest first; the plugin's source is an arm; the learner trains with its loss. Checked against the saved
    rounds."""
    site, run = install_plugin(tmp_path / "site"), tmp_path / "run"
    rows = train(plugin_config(train_config, tmp_path), run, "train.iterations=1", "rollout.backend=hf",
                 **plugin_env(site))
    rounds = [json.loads(line) for line in (run / "rounds" / "iter_1.jsonl").read_text().splitlines()]
    asked = {}
    for round_items in rounds:
        askable = [it for it in round_items if len(set(it["responses"])) > 1]
        asked |= {it["prompt"]: it["responses"] for it in askable[::2]}
    answers = ledger(run)
    assert rows[0]["oracle_queries"] == len(asked) == len(answers) > 0
    for a in answers:
        texts = asked[a["prompt"]]
        assert a["responses"] == texts and a["ranking"] == sorted(range(len(texts)), key=lambda k: (len(texts[k]), k))
    assert "arm/toylen/count" in rows[0] and rows[0]["train/steps"] > 0 and rows[0]["train/loss"] >= 0


def test_the_docs_show_the_example_package_verbatim():
    """Every code block of docs/extending.md is a piece of examples/plugin (its module or its pyproject.toml)."""
    import re

    doc = (REPO / "docs" / "extending.md").read_text()
    code = (PLUGIN / "rayrlhf_toy_plugin" / "__init__.py").read_text() + (PLUGIN / "pyproject.toml").read_text()
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", doc, re.S)
    assert len(blocks) == 5 and all(block.strip() in code for block in blocks)

"""Rollout backends: vLLM weight updates in place must reproduce HF greedy decoding token for token."""

from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from rayrlhf.config import RolloutConfig
from rayrlhf.rollout.hf_sampler import HFSampler
from rayrlhf.rollout.vllm_engine import VllmGenerator, check_servable
from tests.support.tiny_models import hf_greedy, perturbed_copy

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def tied_policy(tiny_task, tmp_path_factory):
    """The built-in policy with its output head tied to its input embedding (as Qwen2.5-0.5B, Llama-3.2-1B)."""
    model = AutoModelForCausalLM.from_pretrained(tiny_task.policy_dir)
    model.config.tie_word_embeddings = True
    model.tie_weights()
    path = tmp_path_factory.mktemp("tied")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_task.policy_dir).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def engine(tied_policy, tmp_path_factory):
    """One engine for the module (start-up ~40 s), serving the tied policy through its untied copy."""
    from rayrlhf.rollout.weights import write_untied

    return VllmGenerator(str(write_untied(tied_policy, tmp_path_factory.mktemp("untied"))),
                         RolloutConfig(kv_cache_gib=0.5, max_new_tokens=24))


def test_a_tied_policy_follows_the_learner_through_untied_copies(engine, tied_policy, tiny_task, tmp_path):
    from rayrlhf.config import Config
    from rayrlhf.rollout.weights import rollout_weights, write_rollout_copy

    cfg = Config.model_validate({"rollout": {"backend": "vllm"}})
    prompts = tiny_task.split("eval")["prompt"][:6]
    assert [r[0].token_ids for r in engine.generate(prompts, n=1, temperature=0.0, max_tokens=24)] == hf_greedy(
        tied_policy, prompts, 24)
    new_dir = tied_policy
    for step in range(2):  # the learner saves tied checkpoints; the engine loads their untied copies
        new_dir = perturbed_copy(new_dir, tmp_path / f"w{step}", seed=10 + step)
        assert AutoModelForCausalLM.from_pretrained(new_dir).config.tie_word_embeddings
        write_rollout_copy(Path(new_dir), cfg)
        engine.load_weights(rollout_weights(new_dir))
        got = [row[0].token_ids for row in engine.generate(prompts, n=1, temperature=0.0, max_tokens=24)]
        assert got == hf_greedy(new_dir, prompts, 24)


def test_vllm_matches_hf_after_in_place_weight_updates(engine, tiny_task, tmp_path):
    prompts = tiny_task.split("eval")["prompt"][:6]
    new_dir = tiny_task.policy_dir
    for step in range(2):  # two successive updates: the engine keeps following the learner
        new_dir = perturbed_copy(new_dir, tmp_path / f"w{step}", seed=step)
        engine.load_weights(new_dir)
        got = [row[0].token_ids for row in engine.generate(prompts, n=1, temperature=0.0, max_tokens=24)]
        assert got == hf_greedy(new_dir, prompts, 24)


def test_vllm_samples_carry_logprobs(engine, tiny_task):
    rows = engine.generate(tiny_task.split("eval")["prompt"][:2], n=3, temperature=1.0, max_tokens=16)
    assert [len(r) for r in rows] == [3, 3]
    assert all(s.logprob < 0 and s.token_ids and isinstance(s.text, str) for r in rows for s in r)


def test_tied_models_are_refused_by_cpu_engines(tiny_task, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_task.policy_dir)
    model.config.tie_word_embeddings = True
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="ties its input and output embeddings.*untied copy.*rollout.backend=hf"):
        check_servable(str(tmp_path))
    check_servable(str(tmp_path), on_gpu=True)  # a GPU engine serves tied models as they are


def test_hf_backend_samples_with_logprobs(tiny_task):
    sampler = HFSampler(str(tiny_task.policy_dir))
    prompts = tiny_task.split("eval")["prompt"][:2]
    a = sampler.sample(prompts, n=2, max_new_tokens=12, seed=3)
    b = sampler.sample(prompts, n=2, max_new_tokens=12, seed=3)
    assert [[s.text for s in r] for r in a] == [[s.text for s in r] for r in b]  # seeded: reproducible
    assert all(s.logprob <= 0 for r in a for s in r)
    greedy = sampler.sample(prompts[:1], n=1, max_new_tokens=12, temperature=0.0)[0][0].token_ids
    assert greedy == hf_greedy(str(tiny_task.policy_dir), prompts[:1], 12)[0]


def test_vllm_takes_a_sample_count_per_prompt(engine, tiny_task):
    """A round's K samples for every prompt and N more for prompts on source arms go in one engine call."""
    rows = engine.generate(tiny_task.split("eval")["prompt"][:3], n=[2, 5, 1], temperature=1.0, max_tokens=8)
    assert [len(r) for r in rows] == [2, 5, 1]


def test_hf_rollout_worker_samples_each_count_in_turn(tiny_config, tiny_task):
    """The ``hf`` backend with per-prompt counts equals one seeded ``sample`` call per distinct count."""
    from rayrlhf.rollout.actor import RolloutWorker

    cfg = tiny_config.model_copy(update={"rollout": tiny_config.rollout.model_copy(update={"backend": "hf"})})
    worker = RolloutWorker(str(tiny_task.policy_dir), cfg)
    prompts = tiny_task.split("eval")["prompt"][:3]
    rows = worker.generate([prompts[0], prompts[1], prompts[2], prompts[0]], [2, 3, 2, 3], seed=7, max_new_tokens=8)
    sampler = HFSampler(str(tiny_task.policy_dir))
    args = {"max_new_tokens": 8, "temperature": cfg.rollout.temperature, "top_p": cfg.rollout.top_p}
    twos = sampler.sample([prompts[0], prompts[2]], n=2, seed=7, **args)
    threes = sampler.sample([prompts[1], prompts[0]], n=3, seed=8, **args)
    expected = [twos[0], threes[0], twos[1], threes[1]]
    assert [[s["text"] for s in row] for row in rows] == [[s.text for s in row] for row in expected]

"""Rollout backends: vLLM weight updates in place must reproduce HF greedy decoding token for token."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rayrlhf.config import RolloutConfig
from rayrlhf.rollout.hf_sampler import HFSampler
from rayrlhf.rollout.vllm_engine import VllmGenerator, check_servable


def _hf_greedy(model_dir, prompts, max_new_tokens):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    out = []
    for p in prompts:  # one at a time: no padding effects
        enc = tok(p, return_tensors="pt")
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        new = ids[0, enc["input_ids"].shape[1] :].tolist()
        out.append(new[: new.index(tok.eos_token_id) + 1] if tok.eos_token_id in new else new)
    return out


def _perturbed_copy(src, dst, seed):
    model = AutoModelForCausalLM.from_pretrained(src)
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return str(dst)


@pytest.fixture(scope="module")
def engine(tiny_task):
    return VllmGenerator(str(tiny_task.policy_dir), RolloutConfig(kv_cache_gib=0.5, max_new_tokens=24))


def test_vllm_matches_hf_after_in_place_weight_updates(engine, tiny_task, tmp_path):
    prompts = tiny_task.split("eval")["prompt"][:6]
    new_dir = tiny_task.policy_dir
    for step in range(2):  # two successive updates: the engine keeps following the learner
        new_dir = _perturbed_copy(new_dir, tmp_path / f"w{step}", seed=step)
        engine.load_weights(new_dir)
        got = [row[0].token_ids for row in engine.generate(prompts, n=1, temperature=0.0, max_tokens=24)]
        assert got == _hf_greedy(new_dir, prompts, 24)


def test_vllm_samples_carry_logprobs(engine, tiny_task):
    rows = engine.generate(tiny_task.split("eval")["prompt"][:2], n=3, temperature=1.0, max_tokens=16)
    assert [len(r) for r in rows] == [3, 3]
    assert all(s.logprob < 0 and s.token_ids and isinstance(s.text, str) for r in rows for s in r)


def test_tied_and_encoder_decoder_models_are_refused(tiny_task, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_task.policy_dir)
    model.config.tie_word_embeddings = True
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="ties its input and output embeddings.*rollout.backend=hf"):
        check_servable(str(tmp_path))


def test_hf_backend_samples_with_logprobs(tiny_task):
    sampler = HFSampler(str(tiny_task.policy_dir))
    prompts = tiny_task.split("eval")["prompt"][:2]
    a = sampler.sample(prompts, n=2, max_new_tokens=12, seed=3)
    b = sampler.sample(prompts, n=2, max_new_tokens=12, seed=3)
    assert [[s.text for s in r] for r in a] == [[s.text for s in r] for r in b]  # seeded: reproducible
    assert all(s.logprob <= 0 for r in a for s in r)
    greedy = sampler.sample(prompts[:1], n=1, max_new_tokens=12, temperature=0.0)[0][0].token_ids
    assert greedy == _hf_greedy(str(tiny_task.policy_dir), prompts[:1], 12)[0]

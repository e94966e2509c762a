"""The learner's policy without Ray: bfloat16 steps on CPU, LoRA (reference = adapter disabled, merged and saved
whole), and the untied copy a CPU vLLM engine serves for a tied-embedding policy."""

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from rayrlhf.config import Config
from rayrlhf.learner.policy import AdapterDisabled, TrainablePolicy, load_policy
from rayrlhf.learner.step import batch_logps, encode, make_optimizer, pair_loss, train_epochs
from rayrlhf.rollout.weights import rollout_weights, ties_embeddings, write_rollout_copy
from tests.support.tiny_models import CORPUS, PAIRS, llama


@pytest.fixture(scope="module")
def tied_dir(tmp_path_factory):
    """A tiny Llama whose output head is its input embedding (as Qwen2.5-0.5B and Llama-3.2-1B)."""
    from rayrlhf.task.lm import train_tokenizer

    tok = train_tokenizer(CORPUS, 300)
    model = llama(tok)
    model.config.tie_word_embeddings = True
    model.tie_weights()
    path = tmp_path_factory.mktemp("tied")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def config(**sections) -> Config:
    base = {"optim": {"batch_size": 8, "micro_batch_size": 4, "epochs": 1, "lr": 1e-2, "warmup_steps": 0},
            "train": {"num_workers": 1}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return Config.model_validate(base)


def logps(model, tok, pairs):
    enc = encode(tok, model, [p.prompt for p in pairs], [p.chosen for p in pairs])
    with torch.no_grad():
        return batch_logps(model, enc, "sum")[0]


def test_bfloat16_training_steps_on_cpu(tied_dir):
    policy = TrainablePolicy(config(policy={"dtype": "bfloat16"}), tied_dir, tied_dir, torch.device("cpu"))
    model, reference = policy.begin_iteration(tied_dir)
    assert next(model.parameters()).dtype == torch.bfloat16
    before = [p.detach().clone() for p in model.parameters()]
    stats = train_epochs(model, reference, policy.tokenizer, make_optimizer(model, policy.cfg.optim), PAIRS, policy.cfg.optim, 0)
    assert stats["steps"] == 1 and math.isfinite(stats["loss"]) and stats["tokens_per_s"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_lora_reference_is_the_adapter_disabled_and_the_merge_is_saved_whole(tied_dir, tmp_path):
    policy = TrainablePolicy(config(policy={"lora": {"r": 4}}), tied_dir, tied_dir, torch.device("cpu"))
    model, reference = policy.begin_iteration(tied_dir)
    assert isinstance(reference, AdapterDisabled)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in model.parameters()) / 10  # only the adapter trains
    loss, _ = pair_loss(model, reference, policy.tokenizer, PAIRS, policy.cfg.optim)
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)  # B = 0 at the start: policy = reference
    base_logps = logps(load_policy(tied_dir), policy.tokenizer, PAIRS)
    train_epochs(model, reference, policy.tokenizer, make_optimizer(model, policy.cfg.optim), PAIRS, policy.cfg.optim, 0)
    assert torch.allclose(logps(reference, policy.tokenizer, PAIRS), base_logps, atol=1e-5)  # the reference stayed put
    trained = logps(model, policy.tokenizer, PAIRS)
    assert not torch.allclose(trained, base_logps, atol=1e-3)
    policy.end_iteration()
    policy.save(tmp_path / "ckpt", policy.state_dict())
    saved = load_policy(str(tmp_path / "ckpt"))
    assert not any("lora" in k for k in saved.state_dict())  # a plain HF checkpoint, adapter merged in
    assert torch.allclose(logps(saved, policy.tokenizer, PAIRS), trained, atol=1e-4)
    model, reference = policy.begin_iteration(str(tmp_path / "ckpt"))  # the next iteration's reference: the merged policy
    assert torch.allclose(logps(reference, policy.tokenizer, PAIRS), trained, atol=1e-4)


def test_a_tied_policy_gets_an_untied_copy_for_cpu_engines(tied_dir, tmp_path):
    import shutil

    ckpt = tmp_path / "iter_1"
    shutil.copytree(tied_dir, ckpt)
    cfg = config(rollout={"backend": "vllm"})
    write_rollout_copy(ckpt, cfg)
    copy = rollout_weights(ckpt)
    assert copy == str(ckpt / "rollout") and ties_embeddings(ckpt) and not ties_embeddings(copy)
    tok = TrainablePolicy(config(), tied_dir, tied_dir, torch.device("cpu")).tokenizer
    untied = AutoModelForCausalLM.from_pretrained(copy)
    assert untied.get_output_embeddings().weight.data_ptr() != untied.get_input_embeddings().weight.data_ptr()
    assert torch.equal(logps(untied, tok, PAIRS), logps(load_policy(str(ckpt)), tok, PAIRS))
    gpu = config(rollout={"backend": "vllm", "num_gpus": 1})
    other = tmp_path / "iter_2"
    shutil.copytree(tied_dir, other)
    write_rollout_copy(other, gpu)  # a GPU engine loads tied models as they are
    assert rollout_weights(other) == str(other)

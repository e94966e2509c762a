"""The learner's per-iteration recipe without Ray: encoding, dropout, accumulation, the schedule."""

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from rayrlhf.config import OptimConfig
from rayrlhf.core.records import PreferencePair
from rayrlhf.learner.step import disable_dropout, encode_responses, make_schedule, pair_loss, train_epochs
from rayrlhf.task.lm import train_tokenizer

CORPUS = ["the company raised ten million in berlin", "a spokesperson said the deal closed", "shares rose in paris"] * 20
PAIRS = [PreferencePair(f"Summarize: doc {i}.", f" the company raised {i} million", " shares rose", " a deal")
         for i in range(8)]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, 300)


def llama(tok, dropout: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, attention_dropout=dropout,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return LlamaForCausalLM(cfg)


def t5(tok, seed: int = 0):
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(tok), d_model=64, d_kv=32, d_ff=128, num_layers=1, num_heads=2, dropout_rate=0.1,
                   pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id)
    return T5ForConditionalGeneration(cfg)


def test_response_tokens_are_masked_and_aligned(tok):
    enc = encode_responses(tok, ["Summarize: doc."], [" shares rose"])
    prompt_ids = tok("Summarize: doc.")["input_ids"]
    response_ids = tok(" shares rose", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert enc["input_ids"][0].tolist() == prompt_ids + response_ids
    # labels[t] is the token after position t; the mask covers exactly the response and EOS
    assert enc["labels"][0].tolist() == (prompt_ids + response_ids)[1:]
    masked = [t for t, m in zip(enc["labels"][0].tolist(), enc["mask"][0].tolist(), strict=True) if m]
    assert masked == response_ids


@pytest.mark.parametrize("make", [lambda tok: llama(tok, dropout=0.3), t5])
def test_dpo_loss_at_initialisation_is_log_2_with_dropout_off(tok, make):
    """Policy = reference at the start of an iteration, so h = 0 and -log sigmoid(0) = log 2, but only if the
    policy in train mode computes what the reference computes in eval mode."""
    cfg = OptimConfig()
    policy, reference = make(tok), make(tok)
    reference.eval()
    policy.train()
    torch.manual_seed(1)
    with_dropout, _ = pair_loss(policy, reference, tok, PAIRS, cfg)
    assert abs(with_dropout.item() - math.log(2)) > 1e-4  # dropout on: the policy is not the reference
    disable_dropout(policy)
    loss, stats = pair_loss(policy, reference, tok, PAIRS, cfg)
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)
    assert stats["logratio"] == pytest.approx(0.0, abs=1e-5)


def test_accumulated_micro_batches_take_the_same_step_as_one_batch(tok):
    cfg = dict(loss="dpo", batch_size=8, lr=1e-2, epochs=1, lr_schedule="constant", warmup_steps=0)
    after = []
    for micro in (8, 2):
        policy, reference = llama(tok), llama(tok).eval()
        optimizer = torch.optim.SGD(policy.parameters(), lr=1e-2)
        stats = train_epochs(policy, reference, tok, optimizer, PAIRS, OptimConfig(**cfg, micro_batch_size=micro), seed=0)
        assert stats["steps"] == 1
        after.append(torch.cat([p.detach().flatten() for p in policy.parameters()]))
    assert torch.allclose(after[0], after[1], atol=1e-6)
    assert not torch.allclose(after[0], torch.cat([p.flatten() for p in llama(tok).parameters()]))  # it did move


def test_warmup_then_cosine_decay():
    params = [torch.nn.Parameter(torch.zeros(1))]
    for warmup, total, expect_warm in [(100, 400, 100), (0.25, 40, 10), (0, 10, 0)]:
        opt = torch.optim.AdamW(params, lr=1.0)
        sched = make_schedule(opt, OptimConfig(lr=1.0, warmup_steps=warmup), total)
        for t in range(total):
            if t < expect_warm:
                expected = t / expect_warm
            else:
                expected = 0.5 * (1 + math.cos(math.pi * (t - expect_warm) / (total - expect_warm)))
            assert sched.get_last_lr()[0] == pytest.approx(expected, abs=1e-9), (warmup, t)
            opt.step()
            sched.step()

"""The learner's per-iteration recipe without Ray: encoding, dropout, accumulation, the schedule."""

import math

import pytest
import torch

from rayrlhf.config import OptimConfig
from rayrlhf.learner.step import disable_dropout, encode_responses, make_schedule, pad_to_workers, pair_loss, train_epochs
from rayrlhf.task.lm import train_tokenizer
from tests.support.tiny_models import CORPUS, PAIRS, llama, t5


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, 300)


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


def test_nll_weight_adds_the_chosen_responses_mean_token_nll_to_the_loss(tok):
    """optim.nll_weight: at initialisation (policy = reference) the loss is log 2 plus the weight times the chosen
    responses' mean per-token NLL, computed here from the policy's logits token by token."""
    disable_dropout(policy := llama(tok))
    reference = llama(tok).eval()
    reference.load_state_dict(policy.state_dict())
    loss, stats = pair_loss(policy, reference, tok, PAIRS, OptimConfig(nll_weight=0.5))
    nlls = []
    for pair in PAIRS:
        enc = encode_responses(tok, [pair.prompt], [pair.chosen])
        with torch.no_grad():
            logits = policy(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[0, :-1]
        token_logps = [logits[t].log_softmax(-1)[label].item() for t, (label, m) in
                       enumerate(zip(enc["labels"][0].tolist(), enc["mask"][0].tolist(), strict=True)) if m]
        nlls.append(-sum(token_logps) / len(token_logps))
    assert stats["chosen_nll"] == pytest.approx(sum(nlls) / len(nlls), rel=1e-5)
    assert loss.item() == pytest.approx(math.log(2) + 0.5 * sum(nlls) / len(nlls), rel=1e-5)


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


@pytest.mark.parametrize(("pairs", "workers"), [(9, 2), (8, 3), (5, 4), (8, 2), (1, 3)])
def test_equal_shards_keep_every_pair(pairs, workers):
    """Equal shards over the workers hold every paid pair (9 pairs over 2 workers: none dropped); padding copies carry weight 0."""
    padded = pad_to_workers([PAIRS[i % len(PAIRS)] for i in range(pairs)], workers)
    assert len(padded) % workers == 0 and len(padded) - pairs < workers
    assert padded[:pairs] == [PAIRS[i % len(PAIRS)] for i in range(pairs)] and all(p.weight == 1.0 for p in padded[:pairs])
    assert all(p.weight == 0.0 for p in padded[pairs:])


def test_a_zero_weight_copy_changes_neither_the_loss_nor_the_step(tok):
    """The padding of uneven shards must not train: a batch with zero-weight copies has the loss and the gradient
    of the batch without them (computed apart)."""
    import dataclasses

    cfg = OptimConfig(loss="dpo", micro_batch_size=4, batch_size=8)
    policy, reference = llama(tok, seed=1), llama(tok, seed=2).eval()
    batch = PAIRS[:5]
    padded = [*batch, *(dataclasses.replace(p, weight=0.0) for p in PAIRS[5:8])]
    grads = []
    for data in (batch, padded):
        policy.zero_grad()
        loss, _ = pair_loss(policy, reference, tok, data, cfg)
        loss.backward()
        grads.append((loss.item(), torch.cat([p.grad.flatten() for p in policy.parameters()])))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-6)


def test_prompt_weights_make_each_prompt_count_once(tok):
    """``transfer.pair_weight: prompt``: a prompt with two pairs (weight 1/2 each) counts as much as one with one pair;
    the weighted loss equals the mean over prompts of each prompt's mean pair loss, each pair's loss computed alone."""
    import dataclasses

    cfg = OptimConfig(loss="dpo")
    policy, reference = llama(tok, seed=3), llama(tok, seed=4).eval()
    a1, a2, b = (dataclasses.replace(p, weight=w) for p, w in zip(PAIRS[:3], (0.5, 0.5, 1.0), strict=True))
    alone = [pair_loss(policy, reference, tok, [dataclasses.replace(p, weight=1.0)], cfg)[0].item() for p in (a1, a2, b)]
    weighted, _ = pair_loss(policy, reference, tok, [a1, a2, b], cfg)
    assert weighted.item() == pytest.approx(((alone[0] + alone[1]) / 2 + alone[2]) / 2, rel=1e-5)
    assert abs(weighted.item() - sum(alone) / 3) > 1e-6  # unweighted, the two-pair prompt would count twice


@pytest.mark.parametrize(("pairs", "batch", "epochs", "max_steps", "expected"),
                         [(8, 2, 3, None, 12), (8, 2, 3, 5, 5), (8, 2, 3, 2, 4), (8, 2, 3, 50, 12), (7, 2, 2, 5, 5)])
def test_a_step_budget_cuts_the_epochs_but_never_a_first_pass(tok, monkeypatch, pairs, batch, epochs, max_steps, expected):
    """``optim.max_steps``: at most that many optimizer steps per iteration, never fewer than one whole pass (a pass of
    P pairs in steps of B is ceil(P/B) steps), so every pair is trained on; the schedule spans the steps taken."""
    import dataclasses

    data = [dataclasses.replace(PAIRS[i % len(PAIRS)], prompt=f"{PAIRS[i % len(PAIRS)].prompt} {i}") for i in range(pairs)]
    cfg = OptimConfig(loss="dpo", batch_size=batch, micro_batch_size=batch, epochs=epochs, max_steps=max_steps,
                      lr=1e-3, warmup_steps=0)
    seen: list[str] = []
    policy, reference = llama(tok), llama(tok).eval()
    import rayrlhf.learner.step as step

    real = step.pair_loss

    def counting(model, ref_model, tokenizer, batch_pairs, c):
        seen.extend(p.prompt for p in batch_pairs)
        return real(model, ref_model, tokenizer, batch_pairs, c)

    monkeypatch.setattr(step, "pair_loss", counting)  # a spy: the real loss runs
    stats = train_epochs(policy, reference, tok, torch.optim.AdamW(policy.parameters(), lr=1e-3), data, cfg, seed=0)
    assert stats["steps"] == expected == len(stats["per_step"])
    assert set(seen) == {p.prompt for p in data}  # every pair at least once
    assert stats["per_step"][0]["lr"] == pytest.approx(1e-3)
    if expected > 1:  # cosine over the steps taken: the last step's rate is that of step expected-1 of expected
        last = 1e-3 * 0.5 * (1 + math.cos(math.pi * (expected - 1) / expected))
        assert stats["per_step"][-1]["lr"] == pytest.approx(last, rel=1e-6)


@pytest.mark.parametrize("make", [llama, t5])
def test_a_batch_of_listwise_factors_is_the_plackett_luce_loss_of_each_alone(tok, make):
    """``transfer.pairs: listwise``: pairs with 0, 1 and 2 further rejected responses in one batch (one forward pass,
    padded lists) give the weighted mean of each factor's -log [e^c / sum e^x] over beta * log(pi/pi_ref), with every
    response's log-probs computed alone and the factor by hand."""
    import dataclasses

    from rayrlhf.learner.step import batch_logps, encode

    cfg = OptimConfig(loss="dpo", beta=0.5)
    policy, reference = make(tok), make(tok)
    with torch.no_grad():  # make the two differ
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    policy.eval(), reference.eval()
    texts = [" shares rose", " a deal", " the company raised 3 million", " profits fell"]
    batch = [dataclasses.replace(PAIRS[0], more_rejected=(texts[2], texts[3])), dataclasses.replace(PAIRS[1], weight=0.5),
             dataclasses.replace(PAIRS[2], more_rejected=(texts[0],))]

    def reward(prompt, text):
        enc = encode(tok, policy, [prompt], [text])
        with torch.no_grad():
            return cfg.beta * float(batch_logps(policy, enc, "sum")[0][0] - batch_logps(reference, enc, "sum")[0][0])

    by_hand = []
    for pair in batch:
        scores = [reward(pair.prompt, t) for t in (pair.chosen, pair.rejected, *pair.more_rejected)]
        by_hand.append(math.log(sum(math.exp(s) for s in scores)) - scores[0])
    expected = sum(w * x for w, x in zip((1.0, 0.5, 1.0), by_hand, strict=True)) / 2.5
    with torch.no_grad():
        loss, _ = pair_loss(policy, reference, tok, batch, cfg)
    assert loss.item() == pytest.approx(expected, rel=1e-4)

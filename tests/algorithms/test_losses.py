"""Preference losses against hand-computed values and gradient signs."""

import math

import pytest
import torch

from rayrlhf.algorithms import preference_loss, sequence_logps


def _logps(pc, pr, rc, rr):
    return [torch.tensor([v], dtype=torch.float64, requires_grad=(i < 2)) for i, v in enumerate((pc, pr, rc, rr))]


def test_dpo_value_and_implicit_rewards():
    pc, pr, rc, rr = _logps(-1.0, -3.0, -2.0, -2.5)
    out = preference_loss("dpo", pc, pr, rc, rr, beta=0.5)
    h = (-1.0 + 2.0) - (-3.0 + 2.5)  # 1.5
    assert out.losses.item() == pytest.approx(-math.log(1 / (1 + math.exp(-0.5 * h))))
    assert out.chosen_rewards.item() == pytest.approx(0.5 * 1.0)
    assert out.rejected_rewards.item() == pytest.approx(0.5 * -0.5)


def test_dpo_gradient_raises_chosen_and_lowers_rejected():
    pc, pr, rc, rr = _logps(-1.0, -1.0, -1.0, -1.0)
    preference_loss("dpo", pc, pr, rc, rr, beta=0.1).losses.sum().backward()
    assert pc.grad.item() < 0 < pr.grad.item()  # descent increases log pi(chosen), decreases log pi(rejected)
    assert pc.grad.item() == pytest.approx(-0.1 * 0.5)  # -beta * sigmoid(-beta*h) at h=0


def test_ipo_value_and_target_margin():
    pc, pr, rc, rr = _logps(-1.0, -3.0, -2.0, -2.5)
    out = preference_loss("ipo", pc, pr, rc, rr, beta=0.25)
    assert out.losses.item() == pytest.approx((1.5 - 2.0) ** 2)
    out.losses.sum().backward()
    assert pc.grad.item() < 0  # margin 1.5 is below the target 1/(2*beta)=2: push it up
    pc2, pr2, rc2, rr2 = _logps(0.0, -5.0, 0.0, 0.0)  # margin 5 > 2: IPO pulls it back (DPO never would)
    preference_loss("ipo", pc2, pr2, rc2, rr2, beta=0.25).losses.sum().backward()
    assert pc2.grad.item() > 0


def test_xpo_adds_positive_exploration_term_on_reference_samples():
    pc, pr, rc, rr = _logps(-1.0, -3.0, -2.0, -2.5)
    ref_sample = torch.tensor([-4.0], dtype=torch.float64, requires_grad=True)
    dpo = preference_loss("dpo", pc, pr, rc, rr, beta=0.5).losses
    xpo = preference_loss("xpo", pc, pr, rc, rr, beta=0.5, xpo_alpha=0.1, policy_ref_sample_logps=ref_sample)
    assert xpo.losses.item() == pytest.approx(dpo.item() + 0.1 * -4.0)
    xpo.losses.sum().backward()
    assert ref_sample.grad.item() == pytest.approx(0.1)  # descent lowers log pi of reference samples


def test_nll_weight_adds_the_chosen_response_s_token_nll_and_raises_its_log_prob():
    """RPO's anchor: the loss is DPO's plus nll_weight * -mean token log pi(chosen), by hand; its gradient on the
    chosen response's token log-prob is -nll_weight (descent raises it) on top of DPO's."""
    pc, pr, rc, rr = _logps(-1.0, -3.0, -2.0, -2.5)
    tokens = torch.tensor([-0.7], dtype=torch.float64, requires_grad=True)
    dpo = preference_loss("dpo", pc, pr, rc, rr, beta=0.5).losses
    rpo = preference_loss("dpo", pc, pr, rc, rr, beta=0.5, nll_weight=2.0, policy_chosen_token_logps=tokens)
    h = (-1.0 - -2.0) - (-3.0 - -2.5)
    assert dpo.item() == pytest.approx(math.log1p(math.exp(-0.5 * h)))
    assert rpo.losses.item() == pytest.approx(dpo.item() + 2.0 * 0.7)
    rpo.losses.sum().backward()
    assert tokens.grad.item() == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="policy_chosen_token_logps"):
        preference_loss("dpo", pc, pr, rc, rr, beta=0.5, nll_weight=1.0)


def test_bad_inputs_are_named():
    t = torch.zeros(1)
    with pytest.raises(ValueError, match="beta must be > 0"):
        preference_loss("dpo", t, t, t, t, beta=0.0)
    with pytest.raises(ValueError, match="unknown preference loss 'kto'"):
        preference_loss("kto", t, t, t, t, beta=0.1)
    with pytest.raises(ValueError, match="policy_ref_sample_logps"):
        preference_loss("xpo", t, t, t, t, beta=0.1)


def test_sequence_logps_sum_and_mean():
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]]]))
    labels = torch.tensor([[0, 1, 0]])
    mask = torch.tensor([[0, 1, 1]])  # first token is prompt
    expected = math.log(0.75) + math.log(0.9)
    assert sequence_logps(logits, labels, mask, "sum").item() == pytest.approx(expected, rel=1e-5)
    assert sequence_logps(logits, labels, mask, "mean").item() == pytest.approx(expected / 2, rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        sequence_logps(logits, labels, mask, "max")


def _plackett_luce_nll(rewards, ranking):
    """-log P(ranking) under Plackett-Luce on ``rewards`` by its definition: at each place, the chosen one's weight
    over the weights of all not yet placed (plain floats)."""
    nll = 0.0
    for k in range(len(ranking)):
        rest = [math.exp(rewards[j]) for j in ranking[k:]]
        nll -= math.log(math.exp(rewards[ranking[k]]) / sum(rest))
    return nll


def test_listwise_factors_add_up_to_the_plackett_luce_likelihood_of_a_ranking():
    """``transfer.pairs: listwise``: the K-1 factors of a ranking (each response over all ranked below it), summed,
    are -log P(ranking) under Plackett-Luce on beta * log(pi/pi_ref) (DPO paper, appendix A.3), computed apart."""
    from rayrlhf.algorithms.losses import RankedBelow

    gen = torch.Generator().manual_seed(0)
    policy, ref = -torch.rand(5, generator=gen, dtype=torch.float64) * 4, -torch.rand(5, generator=gen, dtype=torch.float64) * 4
    ranking, beta = [3, 0, 4, 1, 2], 0.7
    rewards = [beta * float(policy[i] - ref[i]) for i in range(5)]
    total = 0.0
    for k in range(4):
        c, r, below = ranking[k], ranking[k + 1], ranking[k + 2 :]
        width = max(1, len(below))
        pad = torch.zeros(1, width, dtype=torch.float64)
        more = RankedBelow(pad.clone().index_put_((torch.zeros(len(below), dtype=torch.long), torch.arange(len(below))), policy[below]),
                           pad.clone().index_put_((torch.zeros(len(below), dtype=torch.long), torch.arange(len(below))), ref[below]),
                           torch.arange(width)[None, :] < len(below))
        out = preference_loss("dpo", policy[[c]], policy[[r]], ref[[c]], ref[[r]], beta, ranked_below=more)
        total += out.losses.item()
    assert total == pytest.approx(_plackett_luce_nll(rewards, ranking), rel=1e-12)
    # a factor with nothing further below is DPO's pair loss
    empty = RankedBelow(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.bool))
    args = (policy[[0]], policy[[1]], ref[[0]], ref[[1]], beta)
    assert preference_loss("dpo", *args, ranked_below=empty).losses.item() == pytest.approx(preference_loss("dpo", *args).losses.item())
    with pytest.raises(ValueError, match="ipo has no listwise"):
        preference_loss("ipo", *args, ranked_below=empty)

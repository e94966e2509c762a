"""Preference losses for step 5 of empirical TPO (docs/method.md): DPO, IPO and XPO.

All three act on the implicit-reward margin

    h = [log pi(a+|s) - log pi_ref(a+|s)] - [log pi(a-|s) - log pi_ref(a-|s)]

computed from *sequence* log-probabilities. Whether those are sums or per-token means over the response is
decided where they are computed (:func:`sequence_logps`, ``reduction=``); DPO and XPO use sums (Rafailov et
al. 2023), IPO is usually run on per-token means (Azar et al. 2023; TRL's ``ipo`` does the same) because its
target margin ``1/(2*beta)`` does not scale with length. ``optim.logp_reduction`` in the config picks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

LossKind = str  # a name in LOSSES: dpo, ipo, xpo or a registered one


class RankedBelow(NamedTuple):
    """``transfer.pairs: listwise``: the further responses ranked below each example's chosen one (besides its
    rejected one), as ``(batch, m)`` log-probabilities padded to the longest list; ``mask`` is True on real entries."""

    policy_logps: torch.Tensor
    ref_logps: torch.Tensor
    mask: torch.Tensor


def plackett_luce_factor(chosen: torch.Tensor, rejected: torch.Tensor, below: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``-log [exp(chosen) / (exp(chosen) + exp(rejected) + sum_j exp(below_j))]`` per example: the negative log of one
    Plackett-Luce factor over implicit rewards (Rafailov et al. 2023, appendix A.3). Entries of ``below``
    where ``mask`` is False are left out; with none left it is DPO's ``-log sigmoid(chosen - rejected)``."""
    logits = torch.cat([chosen[:, None], rejected[:, None], below.masked_fill(~mask, float("-inf"))], dim=1)
    return torch.logsumexp(logits, dim=1) - chosen


class PreferenceLoss(NamedTuple):
    """Per-example losses and the implicit rewards ``beta * log(pi/pi_ref)`` of each response."""

    losses: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor


PairLoss = Callable[[torch.Tensor, torch.Tensor, float, "RankedBelow | None"], torch.Tensor]


@dataclass(frozen=True)
class Loss:
    """A preference loss: ``pair_loss(chosen_logratios, rejected_logratios, beta, ranked_below)`` gives the
    per-example loss from the implicit log-ratios ``log pi - log pi_ref`` of the chosen and the rejected responses
    (and, with ``transfer.pairs: listwise``, of those ranked below the chosen one; a loss without a listwise form
    raises). ``samples_reference``: the loss adds ``xpo_alpha * log pi(a~|s)`` of a sample ``a~`` of the reference
    policy (XPO), so the learner computes it."""

    name: str
    pair_loss: PairLoss
    samples_reference: bool = False


LOSSES: dict[str, Loss] = {}


def register_loss(loss: Loss) -> Loss:
    """Add ``loss`` to :data:`LOSSES` (``optim.loss`` names it); its name must be new."""
    if loss.name in LOSSES:
        raise ValueError(f"a loss named {loss.name!r} is registered already; choose another name")
    LOSSES[loss.name] = loss
    return loss


def dpo_pair_loss(chosen: torch.Tensor, rejected: torch.Tensor, beta: float, ranked_below: RankedBelow | None) -> torch.Tensor:
    """``-log sigmoid(beta * h)`` (Rafailov et al. 2023, eq. 7); listwise, the Plackett-Luce factor of
    ``beta * log(pi/pi_ref)`` over the chosen, the rejected and every further response ranked below the chosen one."""
    if ranked_below is not None:
        below = beta * (ranked_below.policy_logps - ranked_below.ref_logps)
        return plackett_luce_factor(beta * chosen, beta * rejected, below, ranked_below.mask)
    return -F.logsigmoid(beta * (chosen - rejected))


def ipo_pair_loss(chosen: torch.Tensor, rejected: torch.Tensor, beta: float, ranked_below: RankedBelow | None) -> torch.Tensor:
    """``(h - 1/(2*beta))**2`` (Azar et al. 2023, eq. 17); no listwise form."""
    if ranked_below is not None:
        raise ValueError("ipo has no listwise (Plackett-Luce) form; use loss dpo or xpo with listwise pairs")
    return (chosen - rejected - 1.0 / (2.0 * beta)) ** 2


register_loss(Loss("dpo", dpo_pair_loss))
register_loss(Loss("ipo", ipo_pair_loss))
register_loss(Loss("xpo", dpo_pair_loss, samples_reference=True))


def preference_loss(
    kind: LossKind,
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
    *,
    xpo_alpha: float = 0.0,
    policy_ref_sample_logps: torch.Tensor | None = None,
    ranked_below: RankedBelow | None = None,
    nll_weight: float = 0.0,
    policy_chosen_token_logps: torch.Tensor | None = None,
) -> PreferenceLoss:
    """Per-example preference loss for a batch of (chosen, rejected) pairs, by the registered loss ``kind``:

    - ``dpo``: ``-log sigmoid(beta * h)`` (Rafailov et al. 2023, eq. 7).
    - ``ipo``: ``(h - 1/(2*beta))**2`` (Azar et al. 2023, eq. 17).
    - ``xpo``: DPO plus ``+ xpo_alpha * log pi(a~|s)``, where ``a~`` is a response sampled from the
      reference policy for the same prompt (``policy_ref_sample_logps`` holds ``log pi(a~|s)`` under the
      policy being trained). Xie et al. 2024 ("Exploratory Preference Optimization", Alg. 1, line 7) minimise
      ``alpha * sum log pi(a~|s) - sum log sigmoid(beta*h)``: the term has a **positive** sign in the
      minimised loss, so it pushes probability *away* from what the reference already samples (optimism).
      The authors' reference code has the opposite sign (docs/method.md, "Losses").

    With ``nll_weight`` > 0 each example adds ``nll_weight * -log pi(chosen)`` per token
    (``policy_chosen_token_logps``: the chosen response's mean token log-prob under the policy), the NLL anchor of
    RPO (Pang et al. 2024, "Iterative Reasoning Preference Optimization"; Liu et al. 2024).

    With ``ranked_below`` (``transfer.pairs: listwise``) DPO's and XPO's ``-log sigmoid(beta*h)`` becomes the
    Plackett-Luce factor :func:`plackett_luce_factor` of ``beta * log(pi/pi_ref)`` over the chosen, the rejected and
    every further response ranked below the chosen one; IPO has no listwise form.

    All log-prob tensors have shape ``(batch,)``; ``beta > 0``.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if kind not in LOSSES:
        raise ValueError(f"unknown preference loss {kind!r}; choose one of {', '.join(repr(k) for k in LOSSES)}")
    loss = LOSSES[kind]
    chosen_logratios = policy_chosen_logps - ref_chosen_logps
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    losses = loss.pair_loss(chosen_logratios, rejected_logratios, beta, ranked_below)
    if loss.samples_reference:
        if policy_ref_sample_logps is None:
            raise ValueError(f"{kind} needs policy_ref_sample_logps: log pi(a~|s) of reference-policy samples")
        losses = losses + xpo_alpha * policy_ref_sample_logps
    if nll_weight > 0:
        if policy_chosen_token_logps is None:
            raise ValueError("nll_weight > 0 needs policy_chosen_token_logps: the chosen responses' mean token log pi")
        losses = losses - nll_weight * policy_chosen_token_logps
    return PreferenceLoss(
        losses=losses,
        chosen_rewards=beta * chosen_logratios.detach(),
        rejected_rewards=beta * rejected_logratios.detach(),
    )


def sequence_logps(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss_mask: torch.Tensor,
    reduction: Literal["sum", "mean"] = "sum",
) -> torch.Tensor:
    """Log-probability of each label sequence under ``logits``.

    ``logits`` is ``(batch, seq, vocab)`` already aligned with ``labels`` ``(batch, seq)`` (i.e. logits at
    position t predict ``labels[:, t]``); ``loss_mask`` is 1 on response tokens. ``reduction="mean"`` divides
    by the number of response tokens (IPO's length-normalised form).
    """
    token_logps = torch.gather(logits.log_softmax(-1), 2, labels.clamp(min=0).unsqueeze(2)).squeeze(2)
    mask = loss_mask.to(token_logps.dtype)
    total = (token_logps * mask).sum(-1)
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / mask.sum(-1).clamp(min=1.0)
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")

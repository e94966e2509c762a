"""Pure algorithm functions (no Ray, no I/O): preference losses and transfer policy selection."""

from rayrlhf.algorithms.losses import PreferenceLoss, preference_loss, sequence_logps
from rayrlhf.algorithms.transfer import (
    SELF_ARM,
    ArmStats,
    assign_round,
    choose_pair,
    rank_by_score,
    replace_with_best_of_n,
    self_win_rate,
    transfer_credit,
    ucb_values,
)

__all__ = [
    "SELF_ARM",
    "ArmStats",
    "PreferenceLoss",
    "assign_round",
    "choose_pair",
    "preference_loss",
    "rank_by_score",
    "replace_with_best_of_n",
    "sequence_logps",
    "self_win_rate",
    "transfer_credit",
    "ucb_values",
]

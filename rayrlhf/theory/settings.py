"""RegretSettings of the theory lab's regret experiments (``rayrlhf theory regret``; docs/method.md, "Theory lab")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RegretSettings:
    T: int = 2000
    width_c: float = 1.0
    reg: float = 1.0
    refit_every: int = 20
    block: int = 100
    alpha: float = 0.2
    selection: str = "fisher"  # transfer-selection widths: "fisher" (MLE standard errors) or "count"
    delta: float = 0.1
    # empirical TPO: K = 4 shown responses, Rp = 2 of them Best-of-8 under the source, the self arm's bar
    # Rp/K + bar_margin (0.55 at Rp/K = 1/2, as in the paper); iterations of 500 prompts (refit and arm-statistic
    # reset at each start: 4 iterations at T = 2000, the paper ran 3), UCB rounds of 20 prompts within one
    # (25 per iteration). Shorter iterations refit more often but re-explore every source after each reset:
    # at T = 2000, 200-prompt iterations end ~1/3 above 500-prompt ones.
    K: int = 4
    N: int = 8
    num_replace: int = 2
    bar_margin: float = 0.05
    iteration: int = 500
    refresh_every: int = 20
    # feedback delay (docs/method.md, "Delayed feedback"): 0, a round's arms from every earlier round's labels; 1,
    # from the rounds before the previous one (the previous round is still being labelled); "iteration", every
    # round of an iteration from the statistics of the iterations before (carried, not reset), labels applied at
    # its end
    delay: int | str = 0

    def __post_init__(self) -> None:
        if not 0 < self.num_replace < self.K:
            raise ValueError(f"num_replace={self.num_replace} must be between 1 and K-1={self.K - 1} "
                             "(a source needs transfer and online slots to be compared)")
        if self.N < 1 or not 0 < self.refresh_every <= self.iteration:
            raise ValueError(f"need N >= 1 and 0 < refresh_every <= iteration, got N={self.N}, "
                             f"refresh_every={self.refresh_every}, iteration={self.iteration}")

        if self.delay not in (0, 1, "iteration"):
            raise ValueError(f"delay must be 0, 1 or 'iteration', got {self.delay!r}")

    @property
    def self_win_rate(self) -> float:
        """The self arm's constant credit: the Rp/K a copy of the online policy earns, plus the margin."""
        return self.num_replace / self.K + self.bar_margin

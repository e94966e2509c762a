"""Held-out evaluation of a run (docs/method.md, "Evaluation"): ``eval.samples_per_prompt`` samples per held-out
prompt from the current policy, judged by ``oracle.reward``, and their win rate against the initial policy's.

Ray touch points: the rollout actor and the oracle's reward actor (``Workers.generate``, ``Workers.score``).
"""

from __future__ import annotations

import json

from rayrlhf.algorithms.stats import paired_win_rate, score_summary
from rayrlhf.config import Config, ConfigError
from rayrlhf.core.records import ScoringBatch
from rayrlhf.core.run_dir import RunDir
from rayrlhf.core.seeds import derived_seed
from rayrlhf.run.actor_group import Workers


class HeldOutEval:
    """Samples saved to ``RUN_DIR/eval/iter_N.json`` (so ``rayrlhf compare`` can judge policies head to head), the
    initial policy's (``iter_0``) kept for every later comparison."""

    def __init__(self, cfg: Config, run: RunDir, workers: Workers, rows: list[dict], resumed_iteration: int) -> None:
        self.cfg, self.run, self.workers, self.rows = cfg, run, workers, rows
        self.init = self._initial(resumed_iteration)

    def _initial(self, resumed_iteration: int) -> dict:
        path = self.run.root / "eval" / "iter_0.json"
        if path.is_file():
            return json.loads(path.read_text())
        if resumed_iteration:
            raise ConfigError(f"{path} is missing; cannot evaluate against the initial policy on resume")
        return self.samples(0)

    def samples(self, iteration: int) -> dict:
        """The current policy's samples on the held-out prompts with their oracle scores (prompts x samples)."""
        texts = [r["prompt"] for r in self.rows]
        refs = [r.get("reference") for r in self.rows]
        chats = [r.get("conversation") for r in self.rows]
        e = self.cfg.eval
        seed = derived_seed(self.cfg.run.seed, "eval", iteration)
        responses = [[s["text"] for s in row] for row in self.workers.generate(
            texts, e.samples_per_prompt, e.temperature, seed, stage="eval", max_new_tokens=e.max_new_tokens)]
        batch = ScoringBatch.of(texts, responses, refs, chats)
        scores = self.workers.oracle_scores(batch, "eval")
        out = {"iteration": iteration, "responses": responses, "oracle_scores": scores}
        (self.run.root / "eval").mkdir(exist_ok=True)
        self.run.write_json_atomic(self.run.root / "eval" / f"iter_{iteration}.json", out)
        return out

    def table(self, iteration: int, count: int = 8) -> list[dict]:
        """A few held-out prompts with the policy's first sample and its oracle score after ``iteration``."""
        data = json.loads((self.run.root / "eval" / f"iter_{iteration}.json").read_text())
        return [{"prompt": row["prompt"][-300:], "response": data["responses"][i][0], "oracle_score": data["oracle_scores"][i][0]}
                for i, row in enumerate(self.rows[:count])]

    def evaluate(self, iteration: int) -> dict:
        """Oracle-judged win rate of the current policy vs the initial one on held-out prompts."""
        now_samples = self.samples(iteration)
        wr = paired_win_rate(now_samples["oracle_scores"], self.init["oracle_scores"], seed=iteration)
        now = score_summary(now_samples["oracle_scores"], now_samples["responses"])
        init = score_summary(self.init["oracle_scores"], self.init["responses"])
        return {"eval/win_rate_vs_init": wr.mean, "eval/win_rate_vs_init_ci_low": wr.low,
                "eval/win_rate_vs_init_ci_high": wr.high, "eval/oracle_score": now["mean"],
                "eval/empty_rate": now["empty_rate"], "eval/oracle_score_init": init["mean"]}

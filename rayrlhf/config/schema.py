"""The whole run configuration and the checks that span sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from rayrlhf.config.learning import EvalConfig, OptimConfig, OracleConfig, TrainConfig, TransferConfig
from rayrlhf.config.models import DataConfig, PolicyConfig, RolloutConfig, SourceConfig, TaskConfig
from rayrlhf.config.runtime import RunConfig, TrackingConfig, _Section
from rayrlhf.config.scopes import SHARED
from rayrlhf.config.served import served_sources

# names a source may not take: what the run keys by role, not by source name
RESERVED_NAMES = {"self": "the no-transfer arm", "ensemble": "the label model's arm, transfer.ensemble",
                  "oracle": "the oracle's reward, oracle.reward, scores by that role"}


class Config(_Section):
    """A whole run, one section per concern. The defaults are the paper's experiment (README, "Training recipe");
    checks that span sections refuse settings that would make a run meaningless (e.g. greedy rollouts)."""

    run: RunConfig = Field(default_factory=RunConfig)
    task: Annotated[TaskConfig, SHARED] = Field(default_factory=TaskConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    policy: Annotated[PolicyConfig, SHARED] = Field(default_factory=PolicyConfig)
    rollout: Annotated[RolloutConfig, SHARED] = Field(default_factory=RolloutConfig)
    sources: Annotated[list[SourceConfig], SHARED] = Field(default_factory=list)
    oracle: OracleConfig = Field(default_factory=OracleConfig)
    transfer: TransferConfig = Field(default_factory=TransferConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="before")
    @classmethod
    def _served(cls, raw):
        return served_sources(raw)  # run.rewards_from: every source and the oracle scored by one server

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        names = [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique; repeated: {sorted(dup)}")
        for i, name in enumerate(names):
            if name in RESERVED_NAMES:
                raise ValueError(f"sources[{i}].name={name!r} is reserved ({RESERVED_NAMES[name]}); rename that source")
        if self.transfer.ensemble and self.oracle.route == "all":
            raise ValueError("transfer.ensemble ranks Best-of-N by the label model, which oracle.route=all does not fit; "
                             "set oracle.route=uncertain (or random), or transfer.ensemble=false")
        if self.transfer.credit == "labels" and self.oracle.route == "all":
            raise ValueError("transfer.credit=labels credits arms with the label model's labels, which oracle.route=all "
                             "does not make; set oracle.route (guaranteed, uncertain or random), or transfer.credit=people")
        arm_names = [*names, *(["ensemble"] if self.transfer.ensemble else [])]
        if self.transfer.mode.startswith("fixed:") and self.transfer.mode[6:] not in arm_names:
            raise ValueError(f"transfer.mode {self.transfer.mode!r} names no configured source; sources: {arm_names}")
        if self.rollout.temperature == 0:  # K >= 2 always
            raise ValueError(
                f"rollout.temperature=0 is greedy decoding: the K=train.responses_per_prompt={self.train.responses_per_prompt} "
                f"responses to a prompt (and a source arm's N=transfer.best_of_n={self.transfer.best_of_n}) would all be "
                "the same text, so no preference pair could be formed; set rollout.temperature > 0 (1.0 samples the policy)")
        if self.eval.temperature == 0 and self.eval.samples_per_prompt > 1:
            raise ValueError(f"eval.temperature=0 (greedy) makes the eval.samples_per_prompt={self.eval.samples_per_prompt} "
                             "samples per prompt identical; set eval.samples_per_prompt=1 or eval.temperature > 0")
        if self.transfer.num_replace > min(self.train.responses_per_prompt, self.transfer.best_of_n):
            raise ValueError(
                f"transfer.num_replace={self.transfer.num_replace} exceeds min(K=train.responses_per_prompt="
                f"{self.train.responses_per_prompt}, N=transfer.best_of_n={self.transfer.best_of_n})"
            )
        self._check_transfer_bar()
        self._check_pairs()
        self._check_route()
        self._check_judges()
        self._check_prompt_templates()
        self._check_world_oracle()
        per_step = self.optim.micro_batch_size * self.train.num_workers
        if self.optim.batch_size % per_step:
            raise ValueError(
                f"optim.batch_size={self.optim.batch_size} must be a multiple of optim.micro_batch_size x "
                f"train.num_workers = {self.optim.micro_batch_size} x {self.train.num_workers} = {per_step} "
                "(the rest is gradient accumulation)")
        if self.policy.lora is not None and self.train.strategy == "fsdp":
            raise ValueError("policy.lora with train.strategy=fsdp is not supported: a LoRA adapter is small enough for "
                             "ddp (the frozen base weights take no optimizer state); set train.strategy=ddp")
        return self

    def _check_prompt_templates(self) -> None:
        """A source's ``prompt_template`` wraps the prompt as ``data.prompt_template`` already wrote it; the same
        words added twice ("Summarize: Summarize: ...") score text no model was trained on."""
        outer = self.data.prompt_template.split("{prompt}")
        for i, s in enumerate(self.sources):
            inner = s.prompt_template.split("{prompt}")
            twice = [x.strip() for x, y in ((inner[0], outer[0]), (inner[-1], outer[-1])) if x.strip() and x.strip() in y]
            if twice:
                raise ValueError(
                    f"sources.{i}.prompt_template={s.prompt_template!r} adds {twice[0]!r}, which data.prompt_template="
                    f"{self.data.prompt_template!r} already puts in every prompt; set the source's prompt_template to "
                    "'{prompt}'")

    def _check_world_oracle(self) -> None:
        """Each built-in world has its own gold reward: the simulated human must be the one of the world it labels."""
        golds = {"summaries": "rayrlhf.task.oracle:gold_reward",
                 "instructions": "rayrlhf.task.instructions.oracle:gold_reward"}
        model = self.oracle.reward.model
        if self.data.dataset == "builtin" and model in golds.values() and model != golds[self.task.name]:
            raise ValueError(f"oracle.reward.model={model} is the gold reward of another world than task.name="
                             f"{self.task.name}; set oracle.reward.model={golds[self.task.name]}")

    def _check_pairs(self) -> None:
        """``pair_strategy`` picks the one pair of ``pairs: best_worst``; with more pairs per answer it means nothing."""
        t = self.transfer
        if t.pairs != "best_worst" and t.pair_strategy != "max_min":
            raise ValueError(f"transfer.pair_strategy={t.pair_strategy} picks one pair per answer, but transfer.pairs="
                             f"{t.pairs} trains on every pair it implies; leave pair_strategy at max_min, or set "
                             "transfer.pairs=best_worst")
        if t.pairs == "listwise" and self.optim.loss == "ipo":
            raise ValueError("transfer.pairs=listwise trains Plackett-Luce factors, which optim.loss=ipo has no form for; "
                             "set optim.loss=dpo (or xpo), or transfer.pairs=ranking")

    def _check_route(self) -> None:
        """Model labels come from the label model, which learns to combine the sources' scores."""
        o = self.oracle
        if o.route != "all" and not self.sources:
            raise ValueError(f"oracle.route={o.route} labels prompts with a model of the sources' scores, but `sources` is "
                             "empty; add sources or set oracle.route=all")
        if o.route != "all" and o.labels_per_iteration is not None and o.labels_per_iteration >= self.train.prompts_per_iteration:
            raise ValueError(f"oracle.route={o.route} with oracle.labels_per_iteration={o.labels_per_iteration} >= "
                             f"train.prompts_per_iteration={self.train.prompts_per_iteration} leaves the model nothing to "
                             "label; lower labels_per_iteration, raise prompts_per_iteration, or set oracle.route=all")

    def _check_judges(self) -> None:
        """A source scores each response alone; ranking judges answer queries (docs/rewards_service.md)."""
        for i, s in enumerate(self.sources):
            if s.kind == "judge" and s.judge_settings().mode != "pointwise":
                raise ValueError(f"sources.{i} ('{s.name}'): judge.mode={s.judge_settings().mode}, but a source is "
                                 "pointwise (it scores each response alone); pairwise and listwise judges answer the "
                                 "oracle's queries (oracle.backend: judge)")
        reward = self.oracle.reward
        if self.oracle.backend == "judge":
            if reward.kind != "judge":
                raise ValueError(f"oracle.backend=judge needs oracle.reward of kind 'judge' (an endpoint and its "
                                 f"prompts), not {reward.kind!r}")
            k = self.train.responses_per_prompt
            if reward.judge_settings().mode == "pairwise" and k != 2:
                raise ValueError(f"oracle.reward.judge.mode=pairwise compares two responses, but K=train."
                                 f"responses_per_prompt={k}; use mode listwise (or pointwise), or K=2")

    def _check_transfer_bar(self) -> None:
        """UCB compares source arms with the self arm's bar; both must mean something (docs/method.md step 4)."""
        rp, k, explicit = self.transfer.num_replace, self.train.responses_per_prompt, self.transfer.self_win_rate
        if self.transfer.mode != "ucb":
            return
        if rp in (0, k):
            raise ValueError(
                f"transfer.num_replace={rp} with K=train.responses_per_prompt={k}: a source arm then "
                f"{'never' if rp == 0 else 'always'} wins, so UCB learns nothing; use 0 < num_replace < K "
                "(the paper: 4 of 8), or transfer.mode=none")
        if explicit is not None and explicit <= rp / k:
            raise ValueError(
                f"transfer.self_win_rate={explicit} is at or below Rp/K = {rp}/{k} = {rp / k:g}, what a source that "
                "merely copies the online policy earns; set it above Rp/K (or leave it unset: Rp/K + 0.05)")

"""Sections for the learning loop: the oracle, transfer (empirical TPO), the optimizer, training and evaluation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from rayrlhf.config.models import SourceConfig
from rayrlhf.config.plugins import BUILTIN_BACKENDS, LABELLING_RULES, LOSSES, ORACLE_BACKENDS, PluginChoice
from rayrlhf.config.runtime import _Section
from rayrlhf.config.scopes import RESUMABLE, SHARED


def _default_oracle_reward() -> SourceConfig:
    # empty summaries rank below any real one (r* of a non-empty summary is rarely under -5)
    return SourceConfig(name="gold", kind="python", model="rayrlhf.task.oracle:gold_reward", empty_score=-5.0)


class WebAnnotationConfig(_Section):
    """The annotation web app (``oracle.backend: web``); docs/annotate.md."""

    serve: bool = Field(True, description="run the web app inside `rayrlhf train` (false: run `rayrlhf annotate serve RUN_DIR`)")
    host: str = Field("127.0.0.1", description="address to bind; loopback by default (use a reverse proxy or tunnel to share)")
    port: int = Field(8765, ge=0, le=65535, description="port to bind (0: any free port, printed at start)")
    undo_window: float = Field(10.0, ge=0.0, description="seconds an annotator can undo an answer; the run records it after that")
    poll: float = Field(0.2, gt=0.0, le=10.0, description="seconds between the run's looks at the queue")


class PaceConfig(_Section):
    """The simulated oracle at people's pace (``oracle.backend: simulated``): what a run with people would take in
    wall time, and how long they would wait for queries (``annotation/people_idle_share``)."""

    annotators: int = Field(1, ge=1, description="simulated people answering at once")
    seconds_per_label: float = Field(
        0.0, ge=0.0, description="seconds each takes per answer (0: answers at once, no pacing)")


class OracleConfig(_Section):
    """The expensive annotator: simulated by a reward model (the built-in gold oracle by default), or people."""

    reward: Annotated[SourceConfig, SHARED] = Field(
        default_factory=_default_oracle_reward, description="the simulated oracle's reward model `r*`, a source like "
        "those in `sources` (default: the built-in task's gold reward; the paper: a Llama-3-8B reward model)")
    labels: Literal["deterministic", "bradley_terry"] = Field(
        "deterministic", description="simulated answers: rank the K responses by `r*` (`deterministic`) or sample the "
        "ranking from Bradley-Terry / Plackett-Luce preferences on `r* / temperature` (`bradley_terry`)")
    temperature: float = Field(1.0, gt=0.0, description="bradley_terry labels: the temperature dividing `r*` (higher: noisier)")
    abstain_margin: float = Field(
        0.0, ge=0.0, description="the simulated oracle abstains when the best and worst `r*` differ by at most this "
        "(0: only when all K are equal)")
    budget: Annotated[int | None, RESUMABLE] = Field(
        None, ge=1, description="oracle queries (labels) per run at most; when spent the run stops and "
        "`rayrlhf train --resume RUN_DIR oracle.budget=<more>` continues (null: no limit)")
    backend: Annotated[str, PluginChoice(ORACLE_BACKENDS, BUILTIN_BACKENDS)] = Field(
        "simulated", description="who answers: `simulated` (oracle.reward), `web` (people in the annotation app), "
        "`vendor` (export/import batches; the run stops with exit code 75 until the labels are imported), `python` "
        "(a class of your own, oracle.backend_class) or `judge` (an LLM judge: oracle.reward of kind judge, asked "
        "oracle.reward.judge.mode; AI feedback standing in for people)")
    backend_class: str | None = Field(
        None, description="`module:Class` of a python backend: `Class(cfg, run_dir, score)` with "
        "`ask(queries, record)`, subclassing rayrlhf.annotate.backend.AnnotationBackend; `score` is the oracle reward")
    timeout: float = Field(600.0, gt=0.0, description="seconds one annotator may hold a query before `on_timeout` applies")
    on_timeout: Literal["requeue", "abstain"] = Field(
        "requeue", description="a timed-out query goes back to the queue (`requeue`) or closes with the answers it has, "
        "none meaning abstained (`abstain`)")
    overlap: int = Field(1, ge=1, le=10, description="answers wanted per query (combined by Borda count; agreement reported)")
    max_wait: float = Field(3600.0, gt=0.0, description="seconds the run waits without any new answer before it stops "
                            "with exit code 75 (waiting for labels); `rayrlhf train --resume` continues")
    labels_per_iteration: int | None = Field(
        None, ge=1, description="labels bought per iteration when fewer than train.prompts_per_iteration (null: every "
        "prompt); the rest of the prompts get no label")
    query_selection: Annotated[str, PluginChoice(LABELLING_RULES, ("random", "disagreement"))] = Field(
        "random", description="which prompts get the labels_per_iteration labels: a random sample, or those whose K "
        "responses the sources rank most differently (every source then scores every response)")
    cost_per_label: float = Field(0.0, ge=0.0, description="price of one person's answer (skips included), for the cost report")
    route: Annotated[str, PluginChoice(LABELLING_RULES, ("all", "uncertain", "random", "guaranteed"))] = Field(
        "all", description="who labels a round's prompts (docs/method.md, \"Model labels\"): people, every one (`all`); "
        "people where the label model is least sure and the model elsewhere (`uncertain`); people on a random share and "
        "the model elsewhere (`random`); the model only where its accuracy is certified at `model_accuracy`, people on "
        "an audit share and a random sample of the rest, nobody on the others (`guaranteed`). People answer "
        "`labels_per_iteration` prompts per iteration (else `human_share` of them); model labels are never paid")
    human_share: float = Field(
        0.5, gt=0.0, le=1.0, description="route uncertain/random without labels_per_iteration: the share of each "
        "iteration's prompts people label")
    route_after: int = Field(
        64, ge=1, description="human labels in the run before the label model may label anything (its burn-in); "
        "until then routed rounds label only the human share and drop the rest")
    burn_in: Literal["paced", "front", "certify"] = Field(
        "paced", description="routed rules, until `route_after` human labels exist: `paced` asks people each round's "
        "share of the iteration's human labels and leaves the rest of the round unlabelled; `front` asks people up to "
        "the whole round, so the burn-in ends in fewer rounds and fewer prompts go unlabelled (later rounds pace the "
        "rest of the iteration's human labels); measured at 5 seeds it scores lower (docs/experiments.md), so off. "
        "`certify` (route guaranteed): people answer up to whole rounds while no threshold is certified (the burn-in "
        "included), so the model labels from the first round its audits allow; later rounds pace the rest, so UCB's "
        "arm statistics stand still meanwhile; measured at 5 seeds people's share falls to 0.13-0.15 but the score does "
        "not hold (-0.46 ± 1.49 against paced, two seeds below the initial policy; docs/experiments.md), so off")
    spot_check: float = Field(
        0.1, ge=0.0, le=1.0, description="route uncertain: the share of the human labels spent on prompts the model "
        "is confident about, drawn at random, so its accuracy where it labels is measured (reported with its CI)")
    confidence_skips_identical: bool = Field(
        False, description="routed rules: a model label's confidence (its least sure pair) leaves out pairs of one "
        "response text twice, whose order is a coin flip and trains nothing; otherwise such a prompt is always the "
        "least sure and goes to people first. Measured at 5 seeds it moves the score by +0.003 ± 0.261 "
        "(docs/experiments.md), so off")
    model_accuracy: float = Field(
        0.9, gt=0.5, lt=1.0, description="route guaranteed: the accuracy the label model's labels must have (the share "
        "of their pairs a person orders the same way); it labels only prompts at or above a confidence threshold "
        "whose accuracy has a lower confidence bound at least this, from audited answers it was not fitted on")
    accuracy_confidence: float = Field(
        0.95, gt=0.5, lt=1.0, description="route guaranteed: the probability that the certified threshold's accuracy "
        "is at least model_accuracy (1 - delta of Learn then Test)")
    certify_unit: Literal["prompt", "pair"] = Field(
        "pair", description="route guaranteed: what the certified threshold cuts. `pair`: the model states only the "
        "pairs of its best/worst ranking it gives at least the threshold's probability, on every prompt with one such "
        "pair, and the audits are scored on those pairs; `prompt`: it labels a prompt's whole ranking where its least "
        "sure pair reaches the threshold (at 5 seeds it labelled in 5 of 15 iterations against 14 of 15 per pair: "
        "docs/experiments.md)")
    certify_test: Literal["bonferroni", "sequence"] = Field(
        "sequence", description="route guaranteed: how the grid's thresholds are tested together so every certified "
        "one holds at accuracy_confidence: `bonferroni`, each at (1 - accuracy_confidence) / 11 (the rule before "
        "`sequence`; with noisy people it certified iteration 1 on 1 seed of 5, `sequence` on 5); `sequence`, "
        "fixed-sequence testing, each at 1 - accuracy_confidence, from the threshold the model's own probabilities on the "
        "answers it was fitted on make likeliest to pass down the grid until the first that fails (docs/method.md, "
        "\"Model labels\")")
    certify_bound: Literal["hoeffding_bentkus", "betting"] = Field(
        "hoeffding_bentkus", description="route guaranteed: the p-value each threshold's null is tested with, for "
        "losses in [0, 1]: `hoeffding_bentkus` (Bates et al. 2021) on the audits' mean loss, or `betting` (Waudby-Smith "
        "and Ramdas 2023) on the audits in the order people answered them, more powerful where a few of a few dozen "
        "audits disagree with the model; measured at 5 seeds it was not better end to end (-0.269 ± 0.448; "
        "docs/experiments.md), so off")
    audit_share: float = Field(
        0.5, gt=0.0, lt=1.0, description="route guaranteed: the chance that each human label (a uniform sample of the "
        "round) is an audit, kept out of the label model's fit, that certifies its accuracy; `route_after` counts the "
        "others")
    model_weight: float = Field(1.0, gt=0.0, description="a model label's training weight, relative to a person's")
    labeller: Literal["fitted", "mean"] = Field(
        "fitted", description="what labels the routed prompts: the label model fitted on people's answers (`fitted`), "
        "or the unweighted mean of the per-prompt z-scored sources (`mean`: the baseline, nothing learned)")
    pilot_pairs: str | None = Field(
        None, description="a pilot's answers, to fit the label model before the first round: a pairs file as "
        "`rayrlhf annotate pairs` writes it (JSONL rows `{\"prompt\", \"chosen\", \"rejected\", \"reference\"?}`, "
        "what `rayrlhf rewards evaluate --pairs` reads); every source scores its pairs at start. Its pairs count "
        "towards route_after")
    web: WebAnnotationConfig = Field(default_factory=WebAnnotationConfig, description="the annotation web app")
    pace: PaceConfig = Field(default_factory=PaceConfig, description="the simulated oracle at people's pace")

    @model_validator(mode="after")
    def _backend_class(self) -> OracleConfig:
        if (self.backend == "python") != bool(self.backend_class):
            raise ValueError("oracle.backend=python needs oracle.backend_class ('module:Class'), and only it takes one")
        if self.pace.seconds_per_label and self.backend != "simulated":
            raise ValueError(f"oracle.pace paces the simulated oracle; oracle.backend={self.backend} answers at its own "
                             "pace (set oracle.pace.seconds_per_label=0, or oracle.backend=simulated)")
        if self.burn_in == "certify" and self.route != "guaranteed":
            raise ValueError(f"oracle.burn_in=certify front-loads people until a threshold is certified, which only "
                             f"oracle.route=guaranteed does (set oracle.burn_in=paced or front with route {self.route})")
        if self.route != "all" and self.query_selection == "disagreement":
            raise ValueError("oracle.route=%s chooses which prompts people label; it takes no "
                             "oracle.query_selection=disagreement (leave it at random)" % self.route)
        return self


class TransferConfig(_Section):
    """Empirical TPO's transfer (Huang et al. 2025, Sec. 5): per prompt, UCB on win rates picks a source arm, whose
    Best-of-N responses fill Rp of the K slots, or the `self` arm (no transfer)."""

    mode: str = Field(
        "ucb", description="`ucb` (the paper's method), `none` (no transfer: plain online RLHF) or `fixed:<source name>` "
        "(always that source)")
    ucb_c: float = Field(
        1.0, ge=0.0, description="UCB exploration weight c in `V_w = wins_w / n_w + c / sqrt(n_w)` (the paper's 1)")
    self_win_rate: float | None = Field(
        None, gt=0.0, le=1.0,
        description="the self arm's constant credit per prompt; default Rp/K + 0.05 (0.55 for the paper's Rp/K = 1/2). "
        "A source that copies the online policy earns Rp/K, so an explicit value must lie above Rp/K")
    refresh_every: int = Field(
        200, ge=1, description="prompts per round: arms are assigned a round at a time, uniformly in an iteration's "
        "first round, by UCB on the statistics so far after it (the paper's ~200; statistics reset each iteration)")
    best_of_n: int = Field(32, ge=1, description="N: extra responses sampled for a prompt on a source arm (the paper's 32)")
    num_replace: int = Field(
        4, ge=0, description="Rp: how many of the K responses are replaced by the top-Rp of the N under the arm's "
        "source (the paper's 4)")
    pair_strategy: Literal["max_min", "max_random", "random"] = Field(
        "max_min", description="the training pair from the oracle's ranking: best vs worst (`max_min`, the paper), "
        "best vs a random other (`max_random`), or two at random (`random`)")
    pairs: Literal["best_worst", "implied", "ranking", "listwise"] = Field(
        "best_worst", description="training pairs per answer: one (`best_worst`, chosen by `pair_strategy`; the paper), "
        "the 2K-3 a best/worst answer implies (`implied`: the best over each other, each other over the worst), all "
        "K(K-1)/2 of a full ranking (`ranking`; a partial answer gives its implied pairs), or a full ranking's K-1 "
        "Plackett-Luce factors, each response over all ranked below it (`listwise`, loss dpo or xpo; a partial answer "
        "gives the best's factor over all others and each other over the worst)")
    ensemble: bool = Field(
        False, description="add an `ensemble` arm (needs oracle.route): Best-of-N under the label model's combined "
        "score of every source, so UCB can choose the learned combination when it beats each single source")
    carry: float = Field(
        0.0, ge=0.0, le=1.0, description="arm statistics carried into the next iteration, discounted by this factor "
        "(0: reset every iteration, the paper; 1: keep them all), so a small label budget is not spent re-learning "
        "which sources are good; with carried statistics an iteration starts with UCB instead of a uniform round")
    delay: Literal[0, 1, "iteration"] = Field(
        0, description="feedback delay of the arm statistics (docs/method.md, \"Delayed feedback\"): `0` (the paper: a "
        "round's arms from every earlier round's labels), `1` (from all but the previous round's: round r+1 is "
        "generated and scored, and its queries asked, while round r is still being labelled), or `iteration` (every "
        "round of an iteration from the iterations before, carried, not reset: the iteration is generated in one engine "
        "call and asked as one batch, so a vendor gets one export per iteration)")
    credit: Literal["people", "labels"] = Field(
        "people", description="what credits an arm with a prompt's win: people's answers alone (`people`, the paper, "
        "where people label every prompt), or also the label model's labels (`labels`, needs oracle.route: the best "
        "response of the model's whole ranking, uncertified beyond the pairs it states), so UCB keeps learning in "
        "rounds people do not answer")
    pair_weight: Literal["prompt", "pair"] = Field(
        "prompt", description="how the pairs of one answer weigh in the loss: together as much as one prompt "
        "(`prompt`: 1/n each), or each as much as one pair (`pair`)")

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, v: object) -> object:
        """``1`` from the command line or a quoted YAML value is the number; ``true`` is not 1."""
        if isinstance(v, bool):
            raise ValueError(f"must be 0, 1 or 'iteration', got {v!r}")
        return int(v) if v in ("0", "1") else v

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v in ("ucb", "none") or (v.startswith("fixed:") and len(v) > 6):
            return v
        raise ValueError(f"must be 'ucb', 'none' or 'fixed:<source name>', got {v!r}")


class OptimConfig(_Section):
    """The preference-optimization step on each iteration's (best, worst) pairs: the paper's
    per-iteration trainer (README, "Training recipe")."""

    loss: Annotated[str, PluginChoice(LOSSES, ("dpo", "ipo", "xpo"))] = Field(
        "dpo", description="DPO `-log sigmoid(beta h)` (the paper's main loss), IPO `(h - 1/(2 beta))^2`, or XPO (DPO "
        "plus `xpo_alpha * log pi` of reference-policy samples; Xie et al. 2024); h is the chosen minus the rejected "
        "response's `log pi - log pi_ref`")
    beta: float = Field(0.1, gt=0.0, description="KL-regularisation strength beta (the paper's 0.1)")
    lr: float = Field(5e-5, gt=0.0, description="AdamW peak learning rate (the paper's 5e-5)")
    epochs: int = Field(3, ge=1, description="passes over each iteration's pairs (the paper's 3)")
    max_steps: int | None = Field(
        None, ge=1, description="optimizer steps per iteration at most (transformers' `max_steps`, per iteration): the "
        "epochs stop there, but never before one whole pass over the iteration's pairs; a step budget that does not "
        "grow with `optim.replay` or more labels while one pass fits in it (null: `epochs` whole passes)")
    batch_size: int = Field(64, ge=1, description="pairs per optimizer step over all workers (the paper's 64)")
    micro_batch_size: int = Field(
        8, ge=1, description="pairs per forward pass on one worker; batch_size / (micro_batch_size * train.num_workers) "
        "micro-batches are accumulated per step (with `transfer.pairs: listwise` a pair is one Plackett-Luce factor: "
        "up to K sequences, not 2, in memory per pair)")
    logp_reduction: Literal["sum", "mean"] = Field(
        "sum", description="sequence log-probabilities as sums over response tokens (DPO, XPO) or per-token means "
        "(IPO is usually run with `mean`)")
    xpo_alpha: float = Field(
        1e-5, ge=0.0, description="xpo: weight of the exploration term (TRL's default 1e-5; the paper states none)")
    nll_weight: float = Field(
        0.0, ge=0.0, description="weight of an NLL term on each chosen response (its per-token mean `-log pi`) added "
        "to the preference loss, so training does not lower what it prefers (RPO: Pang et al. 2024, Liu et al. 2024; "
        "TRL's `rpo_alpha`, whose suggested value is 1); 0: off (the paper)")
    reference: Annotated[Literal["iteration", "initial"], SHARED] = Field(
        "iteration", description="the KL reference pi_ref: the policy at the start of each iteration (the paper) or "
        "the initial policy")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay (the paper's 0)")
    max_grad_norm: float = Field(1.0, gt=0.0, description="gradients are clipped to this global L2 norm (the paper's 1.0)")
    lr_schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="learning-rate schedule within an iteration, after warm-up (the paper: cosine)")
    warmup_steps: float = Field(
        100, ge=0.0, description="linear warm-up steps per iteration (the paper's 100); a value below 1 is a fraction "
        "of the iteration's optimizer steps")
    reset_optimizer: bool = Field(
        True, description="a fresh AdamW state and schedule every iteration, as the paper's per-iteration trainer; "
        "false keeps one AdamW state across iterations")
    disable_dropout: Annotated[bool, SHARED] = Field(
        True, description="train with dropout off, as the reference policy is evaluated (TRL's and the paper's default)")
    replay: str = Field(
        "none", description="earlier iterations' labelled pairs trained again with this iteration's (their log-probs "
        "under the new reference recomputed): `none` (the paper), `all`, or `last:N` (the N iterations before)")

    @field_validator("replay")
    @classmethod
    def _replay(cls, v: str) -> str:
        if v in ("none", "all") or (v.startswith("last:") and v[5:].isdigit() and int(v[5:]) >= 1):
            return v
        raise ValueError(f"must be 'none', 'all' or 'last:N' with N >= 1 iterations, got {v!r}")


class TrainConfig(_Section):
    """The outer loop (iterations of M prompts, K responses each) and the Ray Train learner's workers."""

    iterations: Annotated[int, RESUMABLE] = Field(3, ge=1, description="iterations I; each trains on its own fresh prompts (the paper's 3)")
    prompts_per_iteration: int = Field(10000, ge=1, description="M: fresh prompts per iteration (the paper's 10,000)")
    responses_per_prompt: int = Field(8, ge=2, description="K: responses per prompt the oracle ranks (the paper's 8)")
    num_workers: Annotated[int, SHARED] = Field(2, ge=1, description="Ray Train learner workers (data-parallel)")
    use_gpu: Annotated[bool, SHARED] = Field(False, description="one GPU per learner worker (NCCL); false: CPU workers (gloo)")
    cpus_per_worker: Annotated[float, SHARED] = Field(1.0, gt=0.0, description="CPUs Ray reserves for each learner worker")
    strategy: Annotated[Literal["ddp", "fsdp"], SHARED] = Field(
        "ddp", description="how Ray Train spreads the learner (ray.train.torch.prepare_model): a full copy per worker "
        "(ddp) or parameters, gradients and optimizer state sharded over the workers (fsdp)")
    gradient_checkpointing: Annotated[bool, SHARED] = Field(False, description="recompute activations in the backward pass (less memory)")


class EvalConfig(_Section):
    """Held-out evaluation: the oracle judges each iteration's policy against the initial one (and, in
    ``rayrlhf compare``, the methods head to head)."""

    num_prompts: int = Field(200, ge=1, description="held-out prompts evaluated after each iteration")
    samples_per_prompt: int = Field(
        4, ge=1, description="held-out samples per prompt per policy; win rates average over them (less evaluation "
        "noise per seed)")
    reward_pairs: int = Field(200, ge=10, description="pairs `rayrlhf rewards evaluate` samples from the initial policy "
                              "(without --pairs)")
    max_new_tokens: int | None = Field(
        None, ge=1, description="tokens per held-out sample (and per `rewards evaluate` pair) at most (null: "
        "rollout.max_new_tokens)")
    temperature: float = Field(1.0, ge=0.0, description="sampling temperature of the evaluation samples (0: greedy)")
    every: int = Field(
        1, ge=1, description="evaluate after every Nth iteration, the last, and one that spends oracle.budget (1: "
        "after each); the iterations between skip the held-out samples, so their metrics rows have no eval/ keys. "
        "Not in `rayrlhf sweep`, whose scheduler reads the objective every iteration")

"""``rayrlhf rewards evaluate``: how often does each source agree with the human (or oracle) label?

The first practical step for a team with several imperfect reward models: score a few hundred labelled
pairs with each source and compare. Agreement counts a tie as half; the 95% CI is a BCa bootstrap over
pairs (``scipy.stats.bootstrap``); the tie rate is reported separately because a source that cannot tell
responses apart is useless for Best-of-N.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rayrlhf.algorithms.stats import paired_win_rate
from rayrlhf.config import Config
from rayrlhf.data.prompts import DataError, check_rows

HH_ASSISTANT = "\n\nAssistant:"


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    reference: str | None = None


def split_dialogue(chosen: str, rejected: str) -> tuple[str, str, str]:
    """HH-RLHF rows hold two whole dialogues that differ in the last assistant turn: return the shared
    context (up to and including the last ``Assistant:``) and the two final turns."""
    cut_c, cut_r = chosen.rfind(HH_ASSISTANT), rejected.rfind(HH_ASSISTANT)
    if cut_c < 0 or cut_r < 0:
        return "", chosen, rejected
    end = cut_c + len(HH_ASSISTANT)
    return chosen[:end], chosen[end:], rejected[cut_r + len(HH_ASSISTANT) :]


PAIRS_FIX = ('each line must be one JSON object with text fields "chosen" and "rejected" (and optionally "prompt" '
             'and "reference"); fix the file or set data.on_bad_row=skip to skip and count bad rows')


def _pair_rows(p: Path) -> tuple[list, list[int]]:
    """The JSON value on each non-blank line of ``p`` and its line number."""
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"--pairs {p}: not UTF-8 text ({exc.reason} at byte {exc.start}); give a UTF-8 .jsonl file") from None
    rows, lines = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}: line {n} is not JSON ({exc.msg} at column {exc.colno}); {PAIRS_FIX}") from None
        lines.append(n)
    return rows, lines


def load_pairs(path: str | Path, on_bad_row: str = "error") -> tuple[list[PreferencePair], str]:
    """Read ``{"prompt"?, "chosen", "rejected", "reference"?}`` rows (or HH-RLHF dialogues) from jsonl.
    Problems name the file and the row (counting non-blank lines from 0) and its line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--pairs: file not found: {p}{' (a directory)' if p.is_dir() else ''}")
    rows, lines = _pair_rows(p)
    if not rows:
        raise DataError(f"{p}: holds no rows; {PAIRS_FIX}")
    keep, report = check_rows(rows, ["chosen", "rejected"], on_bad_row, str(p), optional=["prompt", "reference"],
                              line_of=lines, fix=PAIRS_FIX)
    pairs = []
    for i in keep:
        row = rows[i]
        if row.get("prompt"):
            pairs.append(PreferencePair(row["prompt"], row["chosen"], row["rejected"], row.get("reference")))
        else:
            pairs.append(PreferencePair(*split_dialogue(row["chosen"], row["rejected"]), row.get("reference")))
    if not pairs:
        raise DataError(f"{p}: no usable pairs ({report.summary()})")
    return pairs, report.summary()


def agreement(chosen_scores, rejected_scores, seed: int = 0) -> dict:
    """Agreement with the label (ties count half), its 95% bootstrap CI, and the tie rate."""
    stats = paired_win_rate(chosen_scores, rejected_scores, seed).to_json()
    return {"agreement": stats.pop("mean"), **stats}


def task_pairs(cfg: Config, log=print) -> tuple[list[PreferencePair], dict]:
    """Pairs sampled from the built-in task's initial policy on its eval split, labelled by the oracle.

    Returns the pairs and a description of the sample: the oracle score distribution of the policy's
    non-empty responses (empty ones are counted apart: they get the oracle's ``empty_score``) and of the
    references, and how many queries the oracle abstained on."""
    from rayrlhf.algorithms.labels import oracle_ranking
    from rayrlhf.rewards import build_source
    from rayrlhf.rollout.hf_sampler import HFSampler
    from rayrlhf.task.build import build_task, resolve_model

    if cfg.data.dataset != "builtin" or cfg.policy.model != "builtin":
        raise DataError("without --pairs, `rewards evaluate` samples the built-in task: set data.dataset=builtin "
                        "and policy.model=builtin, or pass --pairs FILE.jsonl")
    if cfg.eval.temperature == 0:
        raise DataError("eval.temperature=0 (greedy) would sample the same response twice for every pair, so every "
                        "source would tie; set eval.temperature > 0 (e.g. 1.0) or pass --pairs FILE.jsonl")
    task = build_task(cfg.task, log=log)
    split = task.split("eval")
    n = min(cfg.eval.reward_pairs, len(split))
    prompts, refs = split["prompt"][:n], split["reference"][:n]
    sampler = HFSampler(str(task.policy_dir))
    max_new = cfg.eval.max_new_tokens or cfg.rollout.max_new_tokens
    samples = [[s.text for s in row] for row in
               sampler.sample(prompts, n=2, max_new_tokens=max_new, temperature=cfg.eval.temperature, seed=cfg.run.seed)]
    oracle = build_source(cfg.oracle.reward, lambda m: resolve_model(m, cfg.task))
    a, b = [s[0] for s in samples], [s[1] for s in samples]
    sa, sb = oracle.score(prompts, a, refs), oracle.score(prompts, b, refs)
    rng = np.random.default_rng(cfg.run.seed)
    pairs, abstained = [], 0
    for i in range(n):
        ranking = oracle_ranking([sa[i], sb[i]], cfg.oracle.labels, cfg.oracle.temperature, rng, cfg.oracle.abstain_margin)
        if ranking is None:
            abstained += 1
            continue
        win, lose = (a[i], b[i]) if ranking[0] == 0 else (b[i], a[i])
        pairs.append(PreferencePair(prompts[i], win, lose, refs[i]))
    nonempty = [s for s, text in zip(sa + sb, a + b, strict=True) if text.strip()]
    ref_scores = np.asarray(oracle.score(prompts, refs, refs))
    info = {
        "pairs": len(pairs), "oracle_abstained": abstained, "labels": cfg.oracle.labels,
        "empty_responses": 2 * n - len(nonempty),
        "initial_policy_oracle_score": _describe_scores(np.asarray(nonempty)),
        "reference_oracle_score": _describe_scores(ref_scores),
        "examples": [{"prompt": prompts[i][:160] + "...", "response": a[i], "oracle": round(sa[i], 3)} for i in range(3)],
    }
    return pairs, info


def _describe_scores(x: np.ndarray) -> dict:
    q = np.percentile(x, [10, 25, 50, 75, 90])
    return {"mean": float(x.mean()), "std": float(x.std()), **{f"p{p}": float(v) for p, v in zip((10, 25, 50, 75, 90), q, strict=True)}}


def score_pairs(cfg: Config, pairs: list[PreferencePair], log=print) -> tuple[dict[str, tuple[list, list]], list[dict]]:
    """Every configured source's scores of each pair's chosen and rejected response (by source name), and one row per
    source: agreement, CI, tie rate (or why it was skipped)."""
    from rayrlhf.rewards import build_source
    from rayrlhf.task.build import resolve_model

    prompts = [p.prompt for p in pairs]
    refs = [p.reference for p in pairs]
    has_refs = all(r is not None for r in refs)
    rows, scores = [], {}
    for scfg in cfg.sources:
        source = build_source(scfg, lambda m: resolve_model(m, cfg.task))
        if source.needs_reference and not has_refs:
            rows.append({"source": scfg.name, "kind": scfg.kind, "skipped": "needs references; the pairs have none"})
            continue
        r = refs if has_refs else None
        chosen = source.score(prompts, [p.chosen for p in pairs], r)
        rejected = source.score(prompts, [p.rejected for p in pairs], r)
        scores[scfg.name] = (chosen, rejected)
        rows.append({"source": scfg.name, "kind": scfg.kind, **agreement(chosen, rejected, cfg.run.seed),
                     "truncated": source.stats["truncated"], "empty": source.stats["empty"]})
        log(f"[rewards] scored {len(pairs)} pairs with '{scfg.name}'")
    return scores, rows


def evaluate_sources(cfg: Config, pairs: list[PreferencePair], log=print) -> list[dict]:
    """One row per configured source: agreement, CI, tie rate (or why it was skipped)."""
    return score_pairs(cfg, pairs, log)[1]


def format_table(rows: list[dict]) -> str:
    lines = [f"{'source':<16} {'kind':<11} {'agreement':>9}  {'95% CI':<15} {'ties':>6} {'n':>5}"]
    for row in sorted(rows, key=lambda r: -r.get("agreement", -1)):
        if "skipped" in row:
            lines.append(f"{row['source']:<16} {row['kind']:<11} {'-':>9}  skipped: {row['skipped']}")
        else:
            ci = f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
            lines.append(f"{row['source']:<16} {row['kind']:<11} {row['agreement']:>9.3f}  {ci:<15} "
                         f"{row['tie_rate']:>6.3f} {row['n']:>5}")
    return "\n".join(lines)

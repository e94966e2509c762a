"""``kind: judge``: an LLM judge behind an OpenAI-compatible chat-completions endpoint (docs/rewards_service.md,
"LLM judges"). As a source it rates each response alone (``judge.template``, parsed by
:func:`~rayrlhf.rewards.judge_parse.parse_rating`); :mod:`rayrlhf.annotate.judge_oracle` asks it to rank a query's
K responses when it stands in for people.

A rating that does not parse is counted (``stats["unparsed"]``) and is not a score: the response gets the mean of
the parsed ratings of the other responses to the same prompt in the batch (the scale's midpoint when none parsed),
so it neither wins nor loses a Best-of-N pick on a made-up number. Token usage and its price (``judge.cost_per_
million_*``) are added up per batch in ``<score cache>.usage.jsonl``, which the report reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rayrlhf.config import JudgeConfig, SourceConfig
from rayrlhf.core.durable import append_jsonl
from rayrlhf.rewards.judge_parse import parse_rating
from rayrlhf.rewards.protocol import ScoreItem
from rayrlhf.rewards.remote import CachedRemoteReward
from rayrlhf.rewards.transport import json_object, served_model


@dataclass(frozen=True)
class ChatAnswer:
    """One chat completion: the text (``""`` when the server gave none) and its token usage."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def parse_chat(body: bytes) -> ChatAnswer:
    """The first choice's message and the usage of an OpenAI chat-completions answer; ValueError for anything that
    is not one (a judge that answers with no text is an unparsed answer, not a bad body)."""
    data = json_object(body)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError('answered without a "choices" list (not an OpenAI chat-completions answer)')
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    tokens = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    return ChatAnswer(content if isinstance(content, str) else "",
                      *[t if isinstance(t, int) and not isinstance(t, bool) and t >= 0 else 0 for t in tokens])


def chat_request(judge: JudgeConfig, model: str, user: str) -> dict:
    """The chat-completions body for one judge prompt."""
    messages = ([{"role": "system", "content": judge.system}] if judge.system else []) + [{"role": "user", "content": user}]
    return {"model": model, "messages": messages, "temperature": judge.temperature, "max_tokens": judge.max_tokens}


def pointwise_prompt(judge: JudgeConfig, prompt: str, response: str, reference: str | None) -> str:
    return judge.template.format(prompt=prompt, response=response, reference=reference or "",
                                 min_score=f"{judge.min_score:g}", max_score=f"{judge.max_score:g}")


def cost(judge: JudgeConfig, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * judge.cost_per_million_input_tokens + completion_tokens * judge.cost_per_million_output_tokens) / 1e6


class JudgeReward(CachedRemoteReward):
    """A pointwise LLM judge as a source; see the module docstring."""

    def __init__(self, cfg: SourceConfig, cache_path: Path | None = None) -> None:
        super().__init__(cfg, cache_path)
        self.judge, self.model = cfg.judge_settings(), served_model(cfg)
        self.usage_path = None if cache_path is None else cache_path.with_suffix(".usage.jsonl")
        self.stats.update(unparsed=0, prompt_tokens=0, completion_tokens=0, cost=0.0)

    def _fetch(self, items: list[ScoreItem]) -> None:
        payloads = [chat_request(self.judge, self.model, pointwise_prompt(self.judge, it.prompt, it.response, it.reference))
                    for it in items]
        ratings: dict[int, float] = {}

        def done(i: int, answer: ChatAnswer) -> None:
            ratings[i] = self._rating(answer)
            self.cache.add([items[i]], [ratings[i]])

        answers = self.caller.run_all(payloads, lambda i, body: parse_chat(body), done)
        used = {"answers": len(answers), "unparsed": sum(math.isnan(r) for r in ratings.values()),
                "prompt_tokens": sum(a.prompt_tokens for a in answers),
                "completion_tokens": sum(a.completion_tokens for a in answers)}
        used["cost"] = cost(self.judge, used["prompt_tokens"], used["completion_tokens"])
        for key in ("prompt_tokens", "completion_tokens", "cost"):
            self.stats[key] += used[key]
        if self.usage_path is not None:
            append_jsonl(self.usage_path, [used])

    def _rating(self, answer: ChatAnswer) -> float:
        value = parse_rating(answer.text, self.judge.min_score, self.judge.max_score)
        return math.nan if value is None else value  # cached as NaN: asked once, filled in per batch below

    def _score(self, prompts: list[str], responses: list[str], references: list[str] | None, **_) -> list[float]:
        scores = super()._score(prompts, responses, references)
        parsed: dict[str, list[float]] = {}
        for p, s in zip(prompts, scores, strict=True):
            if not math.isnan(s):
                parsed.setdefault(p, []).append(s)
        middle = (self.judge.min_score + self.judge.max_score) / 2
        out = []
        for p, s in zip(prompts, scores, strict=True):
            if math.isnan(s):
                self.stats["unparsed"] += 1
                s = sum(parsed[p]) / len(parsed[p]) if p in parsed else middle
            out.append(s)
        return out

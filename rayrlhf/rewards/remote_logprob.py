"""``kind: lm_logprob`` with an ``endpoint``: ``log p(response | prompt)`` under an LM served elsewhere (a large
judge LM on its own GPUs), through an OpenAI-compatible completions endpoint that echoes prompt log-probabilities
(vLLM's ``/v1/completions``; docs/rewards_service.md).

The texts are tokenized here with the LM's tokenizer (``model``), exactly as the local source does
(:func:`rayrlhf.rewards.models.causal_rows`), and sent as token ids with ``echo: true, logprobs: 0, max_tokens: 0``;
the answer's ``token_logprobs[t]`` is ``log p(ids[t] | ids[:t])``, summed (or averaged) over the response's tokens and
EOS. So the endpoint's score equals the local one up to the server's arithmetic (tests/rollout/test_vllm_endpoints.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from transformers import AutoTokenizer

from rayrlhf.config import SourceConfig
from rayrlhf.rewards.models import causal_rows
from rayrlhf.rewards.protocol import ScoreItem
from rayrlhf.rewards.remote import CachedRemoteReward
from rayrlhf.rewards.transport import json_object, served_model


def parse_prompt_logprobs(body: bytes, lengths: list[int]) -> list[list[float | None]]:
    """Each prompt's echoed ``token_logprobs`` (the first is ``None``: nothing predicts it), in request order;
    ValueError unless there is one choice per prompt with at least its ``length`` finite log-probabilities."""
    data = json_object(body)
    choices = data.get("choices")
    if not isinstance(choices, list) or len(choices) != len(lengths):
        raise ValueError(f"answered {len(choices) if isinstance(choices, list) else 'no'} choices for {len(lengths)} prompts")
    ordered = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    out = []
    for i, (choice, n) in enumerate(zip(ordered, lengths, strict=True)):
        logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
        values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
        if not isinstance(values, list) or len(values) < n:
            raise ValueError(f"answered no echoed token_logprobs for prompt {i} (the server must support echo with "
                             "logprobs, as vLLM's /v1/completions does)")
        row = values[:n]
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v))
               for v in row):
            raise ValueError(f"answered a non-finite or non-number log-probability for prompt {i}")
        out.append(row)
    return out


class EndpointLmLogprob(CachedRemoteReward):
    """``lm_logprob`` scored by a completions endpoint; see the module docstring."""

    reads_conversations = True

    def __init__(self, cfg: SourceConfig, tokenizer_path: str, cache_path: Path | None = None) -> None:
        super().__init__(cfg, cache_path)
        self.tok = AutoTokenizer.from_pretrained(tokenizer_path, trust_remote_code=cfg.trust_remote_code)
        self.model = served_model(cfg)

    def _score(self, prompts, responses, references, conversations=None, **_):
        if conversations and self.tok.chat_template:  # chat data: the conversation in this LM's own template
            from rayrlhf.data.chat import render

            prompts = [render(json.loads(c), self.tok) for c in conversations]
        return super()._score(prompts, responses, None)

    def _fetch(self, items: list[ScoreItem]) -> None:
        batches = self.batches(items)
        rows = []
        for batch in batches:
            batch_rows, cut = causal_rows(self.tok, self.cfg, [it.prompt for it in batch], [it.response for it in batch])
            self._note_truncated(cut)
            rows.append(batch_rows)
        payloads = [{"model": self.model, "prompt": [ids for ids, _ in r], "max_tokens": 0, "echo": True, "logprobs": 0,
                     "temperature": 0.0} for r in rows]
        self.caller.run_all(payloads, lambda i, body: parse_prompt_logprobs(body, [len(ids) for ids, _ in rows[i]]),
                            lambda i, logps: self.cache.add(batches[i], [self._reduce(lp, start) for lp, (_, start)
                                                                         in zip(logps, rows[i], strict=True)]))

    def _reduce(self, logps: list[float | None], start: int) -> float:
        picked = [v for v in logps[max(start, 1):] if v is not None]
        if not picked:
            return 0.0
        return sum(picked) / len(picked) if self.cfg.logp_reduction == "mean" else sum(picked)

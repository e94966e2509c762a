"""Config sections for scorers behind servers: the endpoint a source calls and an LLM judge's prompts
(docs/rewards_service.md)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from rayrlhf.config import checks
from rayrlhf.config.runtime import _Section

POINTWISE_TEMPLATE = (
    "You are an impartial judge. Rate how well the response below answers the user's request: how accurate, "
    "complete and concise it is. Write a short explanation, then your rating from {min_score} to {max_score} in "
    "exactly this format: \"Rating: [[5]]\".\n\n[User request]\n{prompt}\n\n[Response]\n{response}\n[End of response]")
PAIRWISE_TEMPLATE = (
    "You are an impartial judge. Compare the two responses to the user's request below and decide which answers it "
    "better: more accurate, complete and concise. Do not let their order, their length or the assistants' names "
    "sway you. Write a short explanation, then your verdict in exactly this format: \"[[A]]\" if response A is "
    "better, \"[[B]]\" if response B is better, \"[[C]]\" for a tie.\n\n[User request]\n{prompt}\n\n{responses}")
LISTWISE_TEMPLATE = (
    "You are an impartial judge. Rank the {k} responses to the user's request below from best to worst: how "
    "accurate, complete and concise each is. Do not let their order or their length sway you. Write a short "
    "explanation, then the ranking as response numbers, best first, in exactly this format: \"[[2, 1, 3]]\".\n\n"
    "[User request]\n{prompt}\n\n{responses}")


class EndpointConfig(_Section):
    """A server a source (or the oracle) is scored by (docs/rewards_service.md): ``kind: http`` (POST ``{"items":
    [{"prompt", "response", "reference"}]}``, answer ``{"scores": [float, ...]}``), ``kind: judge`` (an
    OpenAI-compatible chat-completions URL) or ``kind: lm_logprob`` (an OpenAI-compatible completions URL that echoes
    prompt log-probabilities, e.g. vLLM's)."""

    url: str = Field(description="the scoring URL, e.g. `http://127.0.0.1:8700/v1/score/rouge` (`rayrlhf rewards "
                     "serve`); https, or plain http to this machine (allow_http for others); no credentials in it")
    token_env: str | None = Field(
        None, description="the environment variable holding the bearer token (the token itself never goes in the "
        "config); null: no Authorization header")
    model: str | None = Field(
        None, description="judge / lm_logprob: the model name the server expects (the OpenAI `model` field; null: the "
        "source's `model`)")
    allow_http: bool = Field(False, description="allow plain http:// to a host other than this machine")
    timeout_s: float = Field(60.0, gt=0.0, description="seconds for one HTTP call (a batch)")
    retries: int = Field(2, ge=0, le=10, description="retries of a call that failed to connect, timed out or got a "
                         "5xx/429 answer, with exponential backoff (1 s, 2 s, 4 s, ...)")
    max_concurrency: int = Field(4, ge=1, le=64, description="batches in flight at once")
    max_response_bytes: int = Field(1 << 20, ge=1024, description="the largest answer body read; a larger one stops the run")

    @model_validator(mode="after")
    def _url(self) -> EndpointConfig:
        try:
            checks.check_endpoint_url(self.url, self.allow_http)
        except ValueError as exc:
            raise ValueError(f"endpoint.url {exc}") from None
        if self.token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.token_env):
            raise ValueError("endpoint.token_env must name an environment variable (letters, digits, _); the value "
                             "given is not one and is not shown (it may be the token itself, which goes in the "
                             "environment, not the config)")
        return self


class JudgeConfig(_Section):
    """An LLM judge behind an OpenAI-compatible chat-completions endpoint (``kind: judge``; docs/rewards_service.md,
    "LLM judges"). As a source it scores each response alone (``template``, a rating parsed from the answer); as the
    oracle (``oracle.backend: judge``) it ranks a query's K responses (``mode``), asked twice in swapped order
    (``swap``) to cancel position bias. An answer that does not parse is an abstention, never a score."""

    mode: Literal["pointwise", "pairwise", "listwise"] = Field(
        "pointwise", description="oracle.backend judge: rate each response (`pointwise`), compare two (`pairwise`, "
        "K = 2: [[A]] / [[B]] / [[C]] for a tie) or rank all K (`listwise`); a source is always pointwise")
    system: str | None = Field(None, description="the system message (null: none)")
    template: str = Field(
        POINTWISE_TEMPLATE, description="the pointwise prompt: `{prompt}`, `{response}` (and `{reference}`, "
        "`{min_score}`, `{max_score}`); the rating is read as `[[n]]` (else `[n]`, else `Rating: n`)")
    ranking_template: str | None = Field(
        None, description="the pairwise / listwise prompt: `{prompt}`, `{responses}` (each written as `[Response "
        "A]` ... or `[Response 1]` ...), `{k}`, `{reference}` (null: the built-in one for the mode)")
    min_score: float = Field(1.0, description="the lowest rating the pointwise prompt allows (outside: unparsed)")
    max_score: float = Field(10.0, description="the highest rating the pointwise prompt allows (outside: unparsed)")
    swap: bool = Field(True, description="pairwise / listwise: ask again with the responses in reversed order and "
                       "combine (a pair that flips with the order is a tie: an abstention)")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="sampling temperature of the judge (0: greedy)")
    max_tokens: int = Field(512, ge=1, description="tokens the judge may write per answer")
    cost_per_million_input_tokens: float = Field(0.0, ge=0.0, description="price of 1M prompt tokens (for the report)")
    cost_per_million_output_tokens: float = Field(0.0, ge=0.0, description="price of 1M completion tokens")

    @model_validator(mode="after")
    def _templates(self) -> JudgeConfig:
        if "{response}" not in self.template or "{prompt}" not in self.template:
            raise ValueError("judge.template must contain {prompt} and {response}")
        if self.ranking_template is not None and ("{responses}" not in self.ranking_template
                                                  or "{prompt}" not in self.ranking_template):
            raise ValueError("judge.ranking_template must contain {prompt} and {responses}")
        if self.min_score >= self.max_score:
            raise ValueError(f"judge.min_score ({self.min_score:g}) must be below judge.max_score ({self.max_score:g})")
        return self

    def ranking_prompt(self) -> str:
        """The pairwise / listwise template in use."""
        return self.ranking_template or (PAIRWISE_TEMPLATE if self.mode == "pairwise" else LISTWISE_TEMPLATE)

"""Prompt + response as one token sequence, the one way the learner, the LM sources and the built-in task's LMs
build it: the response's tokens follow the prompt's and end with EOS, and a sequence over ``max_length`` is cut
on the side the caller names."""

from __future__ import annotations

from typing import Literal

Side = Literal["left", "right", "context"]


def truncate(ids: list[int], start: int, max_length: int, side: Side) -> tuple[list[int], int]:
    """``ids`` (the response starting at index ``start``) cut to ``max_length`` tokens, and where the response starts
    then: ``left`` drops the oldest tokens (the response's end is kept: what a policy is trained to say last),
    ``right`` drops the newest (the prompt and the response's beginning are kept), ``context`` drops the oldest
    context tokens first and then, if the response alone is too long, the response's end."""
    if len(ids) <= max_length:
        return ids, start
    if side == "left":
        drop = len(ids) - max_length
        return ids[drop:], max(0, start - drop)
    if side == "right":
        return ids[:max_length], min(start, max_length)
    if side == "context":
        drop = min(len(ids) - max_length, start)
        return ids[drop:][:max_length], start - drop
    raise ValueError(f"unknown truncation side {side!r}; choose left, right or context")


def prompt_response_ids(tokenizer, prompt: str, response: str, max_length: int, side: Side) -> tuple[list[int], int]:
    """The prompt's ids (with the tokenizer's special tokens), then the response's and EOS, cut by :func:`truncate`;
    and the index where the response starts."""
    p_ids = tokenizer(prompt)["input_ids"]
    r_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return truncate(p_ids + r_ids, len(p_ids), max_length, side)

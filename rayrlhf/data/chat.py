"""Chat data: prompts given as conversations (``[{"role": "user", "content": "..."}, ...]``).

The policy sees the conversation rendered with its own tokenizer's chat template, ending in the assistant's
turn (``add_generation_prompt``); that text is the prompt everywhere downstream (rollouts, training, the
ledger). Source and oracle reward models that have a chat template of their own render the conversation
themselves, with the response as the assistant's turn (``rayrlhf.rewards``); the others read the rendered text.
"""

from __future__ import annotations

import json

ROLES = ("system", "user", "assistant", "tool")


def conversation_problem(value: object) -> str | None:
    """Why ``value`` is not a usable conversation, or ``None``."""
    if not isinstance(value, list) or not value:
        return "is not a non-empty list of messages"
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return f"message {i} is not an object with text 'role' and 'content'"
        if m["role"] not in ROLES:
            return f"message {i} has role {m['role']!r}; use one of {', '.join(ROLES)}"
        if not m["content"].strip():
            return f"message {i} is empty"
    if value[-1]["role"] == "assistant":
        return "ends with an assistant message; the policy writes that turn"
    return None


def render(conversation: list[dict], tokenizer) -> str:
    """The conversation as the model's prompt text, ending where the assistant's reply starts. A BOS token the
    template writes is dropped when the tokenizer adds one itself, so tokenizing the text yields it once."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the prompts are conversations but the policy tokenizer has no chat template; set "
                         "policy.tokenizer to one that has, or give the prompts as text")
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]:
        text = text[len(bos):]
    return text


def with_reply(conversation_json: str, response: str) -> list[dict]:
    """The conversation with ``response`` as the assistant's turn (what a chat reward model scores)."""
    return [*json.loads(conversation_json), {"role": "assistant", "content": response}]

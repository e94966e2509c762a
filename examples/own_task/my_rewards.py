"""Your own reward functions (`kind: python` sources take `module:function`; rayrlhf puts the config's folder on the
import path). Each scores a batch: prompts, responses and the rows' references (here the `topic` column), one float
per response, higher is better."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z']+")


def concise(prompts, responses, references=None):
    """Short and complete: 12 words is best, each word away from it costs a little."""
    return [-abs(len(_WORD.findall(r)) - 12) / 12 for r in responses]


def on_topic(prompts, responses, references=None):
    """Names the prompt's topic (the `topic` column, passed as the reference); a stand-in for a reward model you
    serve over HTTP (`rm.yaml` serves it with `rayrlhf rewards serve`)."""
    topics = references or [""] * len(responses)
    return [float(t.lower() in r.lower()) + 0.1 * min(1.0, len(_WORD.findall(r)) / 10) for r, t in zip(responses, topics, strict=True)]

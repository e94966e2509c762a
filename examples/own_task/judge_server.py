"""An OpenAI-compatible judge for the tutorial (docs/tutorial.md): `POST /v1/chat/completions` rates one response
(`[[n]]`, for a `kind: judge` source) or ranks several (`[[2, 1, 3]]`, for `oracle.backend: judge`) by a fixed rule:
naming the request's topic and being about 12 words long. In practice you point the endpoint at a real model,
e.g. `vllm serve Qwen/Qwen2.5-7B-Instruct --port 8702`; this one needs no GPU and answers at once.

    python examples/own_task/judge_server.py --port 8702
"""

from __future__ import annotations

import argparse
import re

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI(title="tutorial judge")
_BLOCK = re.compile(r"\[Response ?(\w*)\]\n(.*?)\n\[End of response ?\w*\]", re.S)
_REQUEST = re.compile(r"\[User request\]\n(.*?)\n\n", re.S)


def rating(request: str, response: str) -> int:
    """1-10: 5 for naming the request's last word (its topic), up to 5 for a length near 12 words."""
    topic = re.findall(r"[a-z]+", request.lower())[-1:] or [""]
    words = len(re.findall(r"[A-Za-z']+", response))
    return 1 + 4 * (topic[0].rstrip("s") in response.lower()) + max(0, 5 - abs(words - 12) // 3)


def answer(text: str) -> str:
    request = (_REQUEST.search(text) or [None, ""])[1]
    blocks = _BLOCK.findall(text)
    if len(blocks) == 1:
        return f"Rating: [[{rating(request, blocks[0][1])}]]"
    order = sorted(range(len(blocks)), key=lambda i: -rating(request, blocks[i][1]))  # stable: ties keep their order
    return "[[" + ", ".join(blocks[i][0] for i in order) + "]]"


@app.post("/v1/chat/completions")
async def chat(request: Request) -> dict:
    body = await request.json()
    text = body["messages"][-1]["content"]
    content = answer(text)
    return {"object": "chat.completion", "model": body.get("model", "judge"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(text.split()), "completion_tokens": len(content.split())}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8702)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning")

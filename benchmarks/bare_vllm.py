"""A bare vLLM engine (no Ray, no rayrlhf actor) generating a request file in one call: the other side of
benchmark 2.

    python -m benchmarks.bare_vllm --config C --model DIR --requests R.json --out OUT.json [--repeats 3 --handshake DIR]

``R.json`` is ``[{"prompt": str, "n": int}]``; the engine is built with rayrlhf's own engine arguments
(:func:`rayrlhf.rollout.vllm_engine.engine_args`) and sampling settings, warmed up on the first ``--warmup``
requests (as the rayrlhf side is), then times one ``LLM.generate`` over every request, ``--repeats`` times. With
``--handshake DIR`` repeat ``i`` waits for ``DIR/go_i`` and writes ``DIR/done_i`` when it is done, so the caller
alternates it with its own side. Also reports the seconds spent importing vLLM and building the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--requests", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--warmup", type=int, default=1, help="generate the first WARMUP requests once before timing")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--handshake", type=Path, default=None, help="wait for DIR/go_i before repeat i, write DIR/done_i after")
    args = ap.parse_args()
    from rayrlhf.config import load_config
    from rayrlhf.rollout.vllm_engine import engine_args

    cfg = load_config(args.config)
    r = cfg.rollout
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(r.kv_cache_gib))))
    t0 = time.perf_counter()
    from vllm import LLM, SamplingParams

    import_s = time.perf_counter() - t0
    llm = LLM(model=args.model, **engine_args(r, cfg.policy, cfg.run.seed, r.num_gpus > 0))
    build_s = time.perf_counter() - t0 - import_s
    requests = json.loads(args.requests.read_text())
    params = [SamplingParams(n=q["n"], temperature=r.temperature, top_p=r.top_p, max_tokens=r.max_new_tokens, logprobs=0)
              for q in requests]
    t = time.perf_counter()
    llm.generate([q["prompt"] for q in requests[: args.warmup]], params[: args.warmup], use_tqdm=False)
    warmup_s = time.perf_counter() - t
    repeats = []
    for i in range(args.repeats):
        if args.handshake:
            _wait_for(args.handshake / f"go_{i}")
        t = time.perf_counter()
        outputs = llm.generate([q["prompt"] for q in requests], params, use_tqdm=False)
        seconds = time.perf_counter() - t
        tokens = sum(len(o.token_ids) for out in outputs for o in out.outputs)
        samples = sum(len(out.outputs) for out in outputs)
        repeats.append({"seconds": seconds, "tokens": tokens, "samples": samples, "tokens_per_s": tokens / seconds})
        if args.handshake:
            (args.handshake / f"done_{i}").write_text(json.dumps(repeats[-1]))
    middle = sorted(repeats, key=lambda r: r["tokens_per_s"])[len(repeats) // 2]
    args.out.write_text(json.dumps({**middle, "repeats": repeats, "import_s": import_s, "engine_build_s": build_s,
                                    "first_generate_s": warmup_s}))


def _wait_for(path: Path, timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"bare_vllm: {path} did not appear within {timeout_s:g} s")
        time.sleep(0.05)


if __name__ == "__main__":
    main()

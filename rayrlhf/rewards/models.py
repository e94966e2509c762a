"""Model-based sources: LM log-likelihood (causal or seq2seq) and sequence-classification reward models.

Each loads its own tokenizer and reads text, never the policy's token ids (docs/architecture.md: text at the
boundaries). Real hub ids (``google-t5/t5-large``, ``sfairXC/FsfairX-LLaMA3-RM-v0.1``) go through the same
code as the locally built tiny models the tests use.
"""

from __future__ import annotations

import json

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from rayrlhf.algorithms.losses import sequence_logps
from rayrlhf.config import SourceConfig
from rayrlhf.core.encoding import truncate
from rayrlhf.rewards.base import SourceReward, source_device, source_dtype


def causal_rows(tok, cfg: SourceConfig, prompts: list[str], responses: list[str]) -> tuple[list[tuple[list[int], int]], int]:
    """Token ids of each ``prompt_template(prompt) + response (+ EOS)`` and the index where the response starts,
    cut to ``max_length`` by dropping the oldest context; and how many were cut. The one tokenization both the local
    LM and an LM behind a completions endpoint (:mod:`rayrlhf.rewards.remote_logprob`) score."""
    rows, cut = [], 0
    for p, r in zip(prompts, responses, strict=True):
        ctx = cfg.prompt_template.format(prompt=p)
        enc = tok(ctx + r, return_offsets_mapping=True)
        ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
        start = next((i for i, (s, e) in enumerate(offsets) if s >= len(ctx) and e > s), len(ids))
        if tok.eos_token_id is not None:
            ids.append(tok.eos_token_id)
        cut += len(ids) > cfg.max_length
        rows.append(truncate(ids, start, cfg.max_length, "context"))  # keep the response, drop the oldest context
    return rows, cut


class _LogLikelihood:
    """``log p(response | prompt)`` under one LM, summed or averaged over response tokens (+ EOS)."""

    def __init__(self, name: str, cfg: SourceConfig, owner: SourceReward) -> None:
        self.cfg, self.owner, self.device = cfg, owner, source_device(cfg)
        trc = cfg.trust_remote_code
        self.tok = AutoTokenizer.from_pretrained(name, trust_remote_code=trc)
        self.seq2seq = bool(getattr(AutoConfig.from_pretrained(name, trust_remote_code=trc), "is_encoder_decoder", False))
        loader = AutoModelForSeq2SeqLM if self.seq2seq else AutoModelForCausalLM
        self.model = loader.from_pretrained(name, dtype=source_dtype(cfg), trust_remote_code=trc).to(self.device).eval()
        self.pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else (self.tok.eos_token_id or 0)

    def _causal_rows(self, prompts: list[str], responses: list[str]) -> list[tuple[list[int], int]]:
        rows, cut = causal_rows(self.tok, self.cfg, prompts, responses)
        self.owner._note_truncated(cut)
        return rows

    @torch.inference_mode()
    def __call__(self, prompts: list[str], responses: list[str]) -> list[float]:
        out: list[float] = []
        bs = self.cfg.batch_size
        for b in range(0, len(prompts), bs):
            P, R = prompts[b : b + bs], responses[b : b + bs]
            out.extend(self._seq2seq_batch(P, R) if self.seq2seq else self._causal_batch(P, R))
        return out

    def _causal_batch(self, prompts: list[str], responses: list[str]) -> list[float]:
        rows = self._causal_rows(prompts, responses)
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        resp = torch.zeros_like(ids)
        for i, (row, start) in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            attn[i, : len(row)] = 1
            resp[i, start : len(row)] = 1
        logits = self.model(input_ids=ids.to(self.device), attention_mask=attn.to(self.device)).logits
        # logits at t predict token t+1
        return sequence_logps(
            logits[:, :-1].float(), ids[:, 1:].to(self.device), resp[:, 1:].to(self.device), self.cfg.logp_reduction
        ).tolist()

    def _seq2seq_batch(self, prompts: list[str], responses: list[str]) -> list[float]:
        ctx = [self.cfg.prompt_template.format(prompt=p) for p in prompts]
        self.owner._note_truncated(sum(len(self.tok(c)["input_ids"]) > self.cfg.max_length for c in ctx))
        enc = self.tok(ctx, return_tensors="pt", padding=True, truncation=True, max_length=self.cfg.max_length)
        lab = self.tok(responses, return_tensors="pt", padding=True, truncation=True, max_length=self.cfg.max_length)
        mask = lab["attention_mask"]
        labels = lab["input_ids"].masked_fill(mask == 0, -100)
        logits = self.model(
            input_ids=enc["input_ids"].to(self.device), attention_mask=enc["attention_mask"].to(self.device),
            labels=labels.to(self.device),
        ).logits
        return sequence_logps(logits.float(), labels.to(self.device), mask.to(self.device), self.cfg.logp_reduction).tolist()


class LmLogprobReward(SourceReward):
    """``log pi(a|s)`` under an LM (the paper's T5-base / T5-large sources); with ``ref_model`` the score is
    ``log pi(a|s) - log pi_ref(a|s)``, and with ``weight: beta`` it is the paper's ``beta*log(pi/pi_0)``."""

    def __init__(self, cfg: SourceConfig, model_path: str, ref_path: str | None = None) -> None:
        super().__init__(cfg)
        self._lm = _LogLikelihood(model_path, cfg, self)
        self._ref = _LogLikelihood(ref_path, cfg, self) if ref_path else None

    reads_conversations = True

    def _score(self, prompts, responses, references, conversations=None):
        if conversations and self._lm.tok.chat_template:  # chat data: the conversation in this LM's own template
            from rayrlhf.data.chat import render

            prompts = [render(json.loads(c), self._lm.tok) for c in conversations]
        scores = self._lm(prompts, responses)
        if self._ref is not None:
            scores = [s - r for s, r in zip(scores, self._ref(prompts, responses), strict=True)]
        return scores


class ClassifierReward(SourceReward):
    """An HF sequence-classification reward model. With a chat template, the (prompt, response) pair is
    rendered as a user/assistant conversation; otherwise it is encoded as a text pair. The score is the
    single logit (or logit[1] - logit[0] for two-label models)."""

    def __init__(self, cfg: SourceConfig, model_path: str) -> None:
        super().__init__(cfg)
        trc = cfg.trust_remote_code
        self.device = source_device(cfg)
        self.tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trc)
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForSequenceClassification.from_pretrained(model_path, dtype=source_dtype(cfg), trust_remote_code=trc)
        self.model.config.pad_token_id = self.tok.pad_token_id
        self.model.to(self.device).eval()
        labels = self.model.config.num_labels
        if labels not in (1, 2):
            raise ValueError(f"classifier source '{cfg.name}': {model_path} has {labels} labels; need 1 or 2")

    reads_conversations = True

    def _encode(self, prompts: list[str], responses: list[str], conversations: list[str] | None = None) -> dict:
        kw = dict(return_tensors="pt", padding=True, truncation=True, max_length=self.cfg.max_length)
        if self.tok.chat_template:
            from rayrlhf.data.chat import with_reply

            chats = ([with_reply(c, r) for c, r in zip(conversations, responses, strict=True)] if conversations else
                     [[{"role": "user", "content": p}, {"role": "assistant", "content": r}] for p, r in zip(prompts, responses, strict=True)])
            texts = [self.tok.apply_chat_template(chat, tokenize=False) for chat in chats]
            # the template already writes BOS; do not add a second one
            lengths = [len(self.tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
            self._note_truncated(sum(n > self.cfg.max_length for n in lengths))
            return self.tok(texts, add_special_tokens=False, **kw)
        lengths = [len(self.tok(p, r)["input_ids"]) for p, r in zip(prompts, responses, strict=True)]
        self._note_truncated(sum(n > self.cfg.max_length for n in lengths))
        return self.tok(prompts, responses, **kw)

    @torch.inference_mode()
    def _score(self, prompts, responses, references, conversations=None):
        out: list[float] = []
        bs = self.cfg.batch_size
        for b in range(0, len(prompts), bs):
            enc = self._encode(prompts[b : b + bs], responses[b : b + bs], conversations[b : b + bs] if conversations else None)
            logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits.float()
            out.extend((logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]).tolist())
        return out

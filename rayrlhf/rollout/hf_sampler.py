"""The ``hf`` rollout backend: transformers ``generate``, for any causal or encoder-decoder policy.

Used where vLLM does not apply (encoder-decoder policies such as T5) and for small one-off samples, e.g.
the initial-policy pairs of ``rayrlhf rewards evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from rayrlhf.rollout.vllm_engine import Sample


class HFSampler:
    def __init__(self, model_dir: str, trust_remote_code: bool = False, device: str = "cpu",
                 dtype: torch.dtype = torch.float32, tokenizer: str | None = None) -> None:
        self.tok = AutoTokenizer.from_pretrained(tokenizer or model_dir, trust_remote_code=trust_remote_code)
        config = AutoConfig.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
        self.seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        loader = AutoModelForSeq2SeqLM if self.seq2seq else AutoModelForCausalLM
        self.model = loader.from_pretrained(model_dir, dtype=dtype, trust_remote_code=trust_remote_code).to(device).eval()
        self.device = device
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.tok.padding_side = "left"  # decoder-only generation continues from the right edge

    @torch.inference_mode()
    def sample(
        self,
        prompts: Sequence[str],
        n: int = 1,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        batch_size: int = 64,
    ) -> list[list[Sample]]:
        """``n`` responses per prompt (greedy when ``temperature == 0``) with token ids and summed log-probs."""
        torch.manual_seed(seed)
        out: list[list[Sample]] = []
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {"do_sample": False}
        for b in range(0, len(prompts), batch_size):
            chunk = list(prompts[b : b + batch_size])
            enc = self.tok(chunk, return_tensors="pt", padding=True).to(self.device)
            gen = self.model.generate(
                **enc, max_new_tokens=max_new_tokens, num_return_sequences=n, pad_token_id=self.tok.pad_token_id,
                return_dict_in_generate=True, output_scores=True, **sampling,
            )
            seqs = gen.sequences
            new = seqs[:, 1:] if self.seq2seq else seqs[:, enc["input_ids"].shape[1] :]  # seq2seq: drop decoder start
            logps = self.model.compute_transition_scores(seqs, tuple(x.float() for x in gen.scores), normalize_logits=True)
            samples = []
            for row, lp in zip(new.tolist(), logps, strict=True):
                ids = [t for t in row if t != self.tok.pad_token_id]
                samples.append(Sample(self.tok.decode(ids, skip_special_tokens=True), ids,
                                      float(lp[: len(ids)].clamp(min=-1e4).sum())))
            out.extend(samples[i * n : (i + 1) * n] for i in range(len(chunk)))
        return out

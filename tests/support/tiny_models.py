"""Tiny locally built stand-ins for hub models (a T5 policy/LM, a chat-templated reward classifier, a Llama policy)
and plain-transformers helpers the rollout tests compare engines with."""

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    T5Config,
    T5ForConditionalGeneration,
)

from rayrlhf.core.records import PreferencePair
from rayrlhf.task.lm import train_tokenizer

CHAT_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"


def tiny_t5(path, corpus):
    tok = train_tokenizer(corpus, 300)
    config = T5Config(vocab_size=len(tok), d_model=64, d_kv=32, d_ff=128, num_layers=1, num_heads=2,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(path)
    tok.save_pretrained(path)
    return tok


def tiny_classifier(path, corpus, chat_template=True):
    tok = train_tokenizer(corpus, 300)
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(path)
    tok.save_pretrained(path)
    return tok


# a tiny policy and eight pairs for the learner's unit tests (tests/learner/test_learner_step.py, tests/learner/test_policy.py)
CORPUS = ["the company raised ten million in berlin", "a spokesperson said the deal closed", "shares rose in paris"] * 20
PAIRS = [PreferencePair(f"Summarize: doc {i}.", f" the company raised {i} million", " shares rose", " a deal")
         for i in range(8)]


def llama(tok, dropout: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, attention_dropout=dropout,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return LlamaForCausalLM(cfg)


def t5(tok, seed: int = 0):
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(tok), d_model=64, d_kv=32, d_ff=128, num_layers=1, num_heads=2, dropout_rate=0.1,
                   pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id)
    return T5ForConditionalGeneration(cfg)


# greedy generation with plain transformers, and a perturbed copy of a policy (the rollout tests)
def hf_greedy(model_dir, prompts, max_new_tokens):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    out = []
    for p in prompts:  # one at a time: no padding effects
        enc = tok(p, return_tensors="pt")
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        new = ids[0, enc["input_ids"].shape[1] :].tolist()
        out.append(new[: new.index(tok.eos_token_id) + 1] if tok.eos_token_id in new else new)
    return out


def perturbed_copy(src, dst, seed):
    model = AutoModelForCausalLM.from_pretrained(src)
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return str(dst)

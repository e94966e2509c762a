"""Tiny locally built stand-ins for hub models: a T5 policy/LM and a chat-templated reward classifier."""

import torch
from transformers import LlamaConfig, LlamaForSequenceClassification, T5Config, T5ForConditionalGeneration

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

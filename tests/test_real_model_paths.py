"""The paths a real chat model takes, end to end on CPU with tiny stand-ins: a policy with tied embeddings and a
chat template, trained with LoRA, served by vLLM, on a dataset of conversations, with a chat-templated reward
model among the sources."""

import json

import pytest
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from rayrlhf.annotate.ledger import ledger_answers
from rayrlhf.data.chat import conversation_problem, render
from tests.support.cli import train
from tests.support.tiers import TINY_RUN
from tests.support.tiny_models import CHAT_TEMPLATE, tiny_classifier

ASSISTANT_TEMPLATE = CHAT_TEMPLATE + "{% if add_generation_prompt %}assistant:{% endif %}"


def chat_policy(tiny_task, path):
    """The built-in policy with tied embeddings (as Qwen2.5-0.5B) and a chat template."""
    model = AutoModelForCausalLM.from_pretrained(tiny_task.policy_dir)
    model.config.tie_word_embeddings = True
    model.tie_weights()
    model.save_pretrained(path)
    tok = AutoTokenizer.from_pretrained(tiny_task.policy_dir)
    tok.chat_template = ASSISTANT_TEMPLATE
    tok.save_pretrained(path)
    return path


def test_conversations_are_checked_and_rendered_once(tiny_task):
    tok = AutoTokenizer.from_pretrained(tiny_task.policy_dir)
    tok.chat_template = ASSISTANT_TEMPLATE
    text = render([{"role": "user", "content": "Summarize: a."}], tok)
    assert text == "user: Summarize: a.\nassistant:"  # the template's BOS dropped: the tokenizer adds it
    assert tok(text)["input_ids"].count(tok.bos_token_id) == 1
    assert conversation_problem([{"role": "user", "content": "hi"}]) is None
    assert "ends with an assistant message" in conversation_problem([{"role": "assistant", "content": "x"}])
    assert "role 'bot'" in conversation_problem([{"role": "bot", "content": "x"}])
    tok.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        render([{"role": "user", "content": "hi"}], tok)


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.vllm
@pytest.mark.extended
def test_lora_on_a_tied_chat_policy_over_conversations(train_config, tiny_task, tiny_overrides, tmp_path):
    policy = chat_policy(tiny_task, tmp_path / "policy")
    split = tiny_task.split("train")
    rows = [{"messages": [{"role": "user", "content": p}], "reference": r}
            for p, r in zip(split["prompt"], split["reference"], strict=True)]
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = split["prompt"][:50] + split["reference"][:50]
    tiny_classifier(tmp_path / "rm", corpus, chat_template=True)
    cfg = tmp_path / "chat.yaml"
    cfg.write_text(yaml.safe_dump({
        "data": {"dataset": str(data), "prompt_field": "messages", "reference_field": "reference"},
        "policy": {"model": str(policy), "lora": {"r": 4, "alpha": 8}},
        "rollout": {"backend": "vllm", "kv_cache_gib": 0.5, "num_cpus": 0.5},
        "sources": [{"name": "rm", "kind": "classifier", "model": str(tmp_path / "rm"), "num_cpus": 0.25},
                    {"name": "rouge", "kind": "rouge", "num_cpus": 0.25}],
    }))
    run = tmp_path / "run"
    metrics = train([str(cfg), *tiny_overrides, *TINY_RUN, "eval.num_prompts=8"], run, cwd=tmp_path)
    assert [r["iteration"] for r in metrics] == [1, 2] and metrics[-1]["train/pairs"] > 0
    # the policy saw its chat template; the ledger holds the rendered prompts
    asked = ledger_answers(run / "annotations.jsonl")
    assert asked and all(q["prompt"].startswith("user: Summarize:") and q["prompt"].endswith("assistant:") for q in asked)
    # LoRA merged into whole HF checkpoints, still tied; the CPU engine loaded their untied copies
    ckpt = run / "checkpoints" / "iter_2"
    saved = AutoModelForCausalLM.from_pretrained(ckpt)
    assert saved.config.tie_word_embeddings and not any("lora" in k for k in saved.state_dict())
    assert not AutoModelForCausalLM.from_pretrained(ckpt / "rollout").config.tie_word_embeddings
    base = AutoModelForCausalLM.from_pretrained(policy)
    assert any((a - b).abs().max() > 0 for a, b in zip(saved.parameters(), base.parameters(), strict=True))  # it learned

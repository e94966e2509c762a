"""The source reward library on real metric libraries and locally built tiny HF models."""

import logging
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rayrlhf.config import SourceConfig
from rayrlhf.rewards import build_source
from tests.support.tiny_models import tiny_classifier, tiny_t5

CORPUS = ["the cat sat on the mat.", "a dog ran in the park.", "Summarize: the cat.\nSummary: a cat."] * 20


def nan_source(prompts, responses, references):
    return [math.nan if "bad" in r else 1.0 for r in responses]


def len_source(prompts, responses, references):
    return [float(len(r)) for r in responses]


def test_rouge_prefers_the_reference_and_can_compare_with_the_prompt():
    src = build_source(SourceConfig(name="r", kind="rouge"))
    s = src.score(["p", "p"], ["the cat sat on the mat", "dogs bark loudly"], ["the cat sat on a mat"] * 2)
    assert s[0] > 0.7 > 0.1 > s[1]
    with pytest.raises(ValueError, match="needs reference texts"):
        src.score(["p"], ["x"])
    ctx = build_source(SourceConfig(name="r", kind="rouge", against="prompt", rouge_type="rougeL"))
    assert ctx.score(["the cat sat"], ["the cat sat"])[0] == pytest.approx(1.0)


def test_bertscore_with_the_packaged_minilm():
    src = build_source(SourceConfig(name="b", kind="bertscore"))
    s = src.score(["p"] * 2, ["The company will hire 50 workers in Oslo.", "Bananas are yellow fruit."],
                  ["The company will hire 50 workers in Oslo."] * 2)
    assert s[0] == pytest.approx(1.0, abs=1e-4) and s[1] < s[0] - 0.1


def test_empty_nonfinite_weight_and_length_checks(caplog):
    src = build_source(SourceConfig(name="py", kind="python", model="tests.rewards.test_rewards:nan_source", weight=-2.0,
                                    empty_score=-7.0))
    with caplog.at_level(logging.WARNING):
        assert src.score(["p"] * 3, ["good", "  ", "bad"]) == [-2.0, -7.0, -7.0]
    assert src.stats == {"scored": 3, "empty": 1, "nonfinite": 1, "truncated": 0}
    assert "non-finite" in caplog.text
    with pytest.raises(ValueError, match="lengths must match"):
        src.score(["p"], ["a", "b"])


@pytest.mark.parametrize(("spec", "message"), [
    ("nomodule", "package.module:function"),
    ("no_such_module_xyz:f", "cannot import module"),
    ("tests.rewards.test_rewards:missing", "has no callable 'missing'"),
])
def test_python_source_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        build_source(SourceConfig(name="py", kind="python", model=spec))


def _manual_logp(model_dir, prompt, response):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    p_ids = tok(prompt)["input_ids"]
    r_ids = tok(response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([p_ids + r_ids])
    with torch.no_grad():
        logp = model(ids).logits.log_softmax(-1)[0]
    return sum(logp[len(p_ids) + i - 1, t].item() for i, t in enumerate(r_ids)), len(r_ids)


def test_lm_logprob_matches_a_manual_computation(tiny_task):
    d = str(tiny_task.judge_lm_dir)
    prompt = tiny_task.split("eval")["prompt"][0]
    response = " Norvale will hire 20 workers in Oslo, Ana Torres said."
    total, n = _manual_logp(d, prompt, response)
    s_sum = build_source(SourceConfig(name="lm", kind="lm_logprob", model=d)).score([prompt], [response])[0]
    s_mean = build_source(SourceConfig(name="lm", kind="lm_logprob", model=d, logp_reduction="mean")).score([prompt], [response])[0]
    assert s_sum == pytest.approx(total, abs=1e-3)
    assert s_mean == pytest.approx(total / n, abs=1e-4)
    ratio = build_source(SourceConfig(name="lm", kind="lm_logprob", model=d, ref_model=d, weight=0.1))
    assert ratio.score([prompt], [response]) == [0.0]  # beta * log(pi/pi_ref) with pi == pi_ref


def test_lm_logprob_truncates_long_prompts_once(tiny_task, caplog):
    d = str(tiny_task.policy_dir)
    prompts = tiny_task.split("eval")["prompt"][:3]
    src = build_source(SourceConfig(name="lm", kind="lm_logprob", model=d, max_length=24))
    with caplog.at_level(logging.WARNING):
        scores = src.score(prompts, [" Norvale will hire."] * 3)
        src.score(prompts, [" Norvale will hire."] * 3)
    assert all(math.isfinite(s) for s in scores) and src.stats["truncated"] == 6
    assert caplog.text.count("were truncated") == 1


def test_lm_logprob_seq2seq(tmp_path):
    tiny_t5(tmp_path, CORPUS)
    src = build_source(SourceConfig(name="t5", kind="lm_logprob", model=str(tmp_path), prompt_template="Summarize: {prompt}"))
    s = src.score(["the cat sat.", "a dog ran."], ["a cat.", "a dog ran in the park today."])
    assert src._lm.seq2seq and all(math.isfinite(x) and x < 0 for x in s)
    assert s[1] < s[0]  # summed log-probs: the longer response costs more


@pytest.mark.parametrize("chat_template", [True, False])
def test_classifier_reward_model(tmp_path, chat_template):
    tok = tiny_classifier(tmp_path, CORPUS, chat_template)
    src = build_source(SourceConfig(name="rm", kind="classifier", model=str(tmp_path)))
    prompts, responses = ["the cat sat.", "a dog ran."], ["a cat.", "a dog ran in the park."]
    scores = src.score(prompts, responses)
    enc = src._encode(prompts[:1], responses[:1])
    if chat_template:
        assert enc["input_ids"][0].tolist().count(tok.bos_token_id) == 1  # no doubled BOS
        text = tok.apply_chat_template([{"role": "user", "content": prompts[0]}, {"role": "assistant", "content": responses[0]}],
                                       tokenize=False)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    else:
        ids = tok(prompts[0], responses[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = src.model(input_ids=ids).logits[0, 0].item()
    assert scores[0] == pytest.approx(expected, abs=1e-4)

"""The instruction world (task.name: instructions): its rules checked against hand-judged texts, r* against a
hand computation, and the design's properties: r* reads no text a source reads, the sources see different parts,
and the topic and the `formal` rule are seen by no rule source."""

import random
import re

import pytest

from rayrlhf.config import ConfigError, TaskConfig, load_config
from rayrlhf.task.build import build_task
from rayrlhf.task.instructions import oracle, rules, sources, world
from tests.support.paths import REPO

HAND_JUDGED = [  # (constraint, response, kept?) judged by reading the text
    ("include:morning", "We enjoy the soil with morning.", True),
    ("include:morning", "We enjoy the mornings.", False),
    ("exclude:enjoy", "We share the roses.", True),
    ("exclude:enjoy", "We enjoy the roses.", False),
    ("sentences:2", "We share the roses. People look at the bees.", True),
    ("sentences:2", "We share the roses.", False),
    ("no_commas", "We share the roses.", True),
    ("no_commas", "In spring, we share the roses.", False),
    ("lowercase", "we share the roses.", True),
    ("lowercase", "We share the roses.", False),
    ("end_with:for now", "We share the roses for now.", True),
    ("end_with:for now", "For now we share the roses.", False),
    ("start_with:today", "Today we share the roses.", True),
    ("start_with:today", "- today we share the roses.", True),
    ("start_with:today", "We share the roses today.", False),
    ("words:4-10", "We share the roses.", True),
    ("words:4-10", "We share roses.", False),
    ("number", "We share 3 roses.", True),
    ("number", "We share three roses.", False),
    ("question", "Do we share the roses?", True),
    ("question", "Do we share the roses? We do.", False),
    ("bullets", "- We share the roses. - People look at the bees.", True),
    ("bullets", "- We share the roses. People look at the bees.", False),
    ("formal", "We share the roses.", True),
    ("formal", "We really share the roses.", False),
    ("formal", "It's the roses.", False),
]


@pytest.mark.parametrize(("constraint", "response", "expected"), HAND_JUDGED)
def test_rules_against_hand_judged_texts(constraint, response, expected):
    assert rules.kept(constraint, response) is expected


def test_every_kind_of_rule_is_judged_by_hand_and_prompts_read_back():
    assert {rules.kind_of(c) for c, _, _ in HAND_JUDGED} == set(rules.TYPES) and len(rules.TYPES) == 12
    rng = random.Random(0)
    for _ in range(500):
        spec = world.sample_spec(rng)
        assert 2 <= len(spec.constraints) <= 4 and len({rules.kind_of(c) for c in spec.constraints}) == len(spec.constraints)
        assert rules.parse_prompt(rules.render_prompt(spec)) == spec
    with pytest.raises(ValueError, match="not an instruction-world prompt"):
        rules.parse_prompt("Summarize: a document\nSummary:")


def test_gold_score_by_hand():
    prompt = rules.render_prompt(rules.Spec("gardening", ("include:morning", "no_commas")))
    response = "In spring, we enjoy the soil with morning. People look at the traffic."
    # include kept (weight 1.0), no_commas broken (0.6); one sentence of two names a gardening word; no repeats
    assert oracle.gold_score(prompt, response) == pytest.approx(2.5 * 1.0 / 1.6 + 1.5 * 0.5)
    repeated = "We enjoy the soil with morning. We enjoy the soil with morning."
    assert oracle.gold_score(prompt, repeated) == pytest.approx(2.5 + 1.5 - 0.75)


def test_references_keep_every_rule_and_r_star_reads_no_reference():
    rows = world.make_split(3, 200)
    prompts, refs = [r["prompt"] for r in rows], [r["reference"] for r in rows]
    assert oracle.gold_reward(prompts, refs) == pytest.approx([4.0] * len(rows))  # every rule, on topic, <= 30 words
    responses = [world.graded_response(random.Random(i), rules.parse_prompt(p)) for i, p in enumerate(prompts)]
    shuffled = refs[1:] + refs[:1]
    assert oracle.gold_reward(prompts, responses, refs) == oracle.gold_reward(prompts, responses, shuffled) \
        == oracle.gold_reward(prompts, responses, None)


def test_rule_sources_check_different_kinds_and_none_checks_formal():
    kinds = [set(sources.FORMAT_KINDS), set(sources.CONTENT_KINDS), set(sources.LENGTH_KINDS)]
    assert sum(map(len, kinds)) == len(set.union(*kinds))  # disjoint
    assert set(rules.TYPES) - set.union(*kinds) == set(oracle.HIDDEN_KINDS) == {"formal"}


RULE_SOURCES = [sources.format_rules, sources.content_rules, sources.length_rules, sources.word_count, sources.polish]


def _off_topic(text: str, topic: str, rng: random.Random) -> str:
    lexicon = set(world.TOPICS[topic])
    return re.sub(r"[A-Za-z]+", lambda m: rng.choice(world.OFF_TOPIC) if m.group(0) in lexicon else m.group(0), text)


def test_the_topic_is_seen_by_no_rule_source_and_r_star_rewards_it():
    rows = world.make_split(5, 200)
    rng = random.Random(0)
    prompts, refs = [r["prompt"] for r in rows], [r["reference"] for r in rows]
    off = [_off_topic(r, row["topic"], rng) for r, row in zip(refs, rows, strict=True)]
    assert all(a > b for a, b in zip(oracle.gold_reward(prompts, refs), oracle.gold_reward(prompts, off), strict=True))
    for source in RULE_SOURCES:
        assert source(prompts, refs) == source(prompts, off), source.__name__


def test_the_formal_rule_is_seen_by_no_rule_source_and_r_star_rewards_it():
    rows = [r for r in world.make_split(6, 400) if "formal" in r["constraints"] and re.search(r"\bthe\b", r["reference"])]
    prompts, refs = [r["prompt"] for r in rows], [r["reference"] for r in rows]
    casual = [re.sub(r"\bthe\b", "really", r, count=1) for r in refs]  # as many words, one casual
    assert len(rows) > 50 and all(c != r for c, r in zip(casual, refs, strict=True))
    assert all(a > b for a, b in zip(oracle.gold_reward(prompts, refs), oracle.gold_reward(prompts, casual), strict=True))
    for source in RULE_SOURCES:
        assert source(prompts, refs) == source(prompts, casual), source.__name__


def test_initial_policy_data_breaks_rules_at_graded_rates():
    rng, kept, seen = random.Random(0), {}, {}
    for row in world.make_split(7, 1500):
        spec = rules.parse_prompt(row["prompt"])
        text = world.graded_response(rng, spec)
        for c in spec.constraints:
            seen[rules.kind_of(c)] = seen.get(rules.kind_of(c), 0) + 1
            kept[rules.kind_of(c)] = kept.get(rules.kind_of(c), 0) + rules.kept(c, text)
    rates = {k: kept[k] / seen[k] for k in seen}
    for kind, target in world.SFT_KEEP_RATES.items():  # the composer meets its goals closely
        assert abs(rates[kind] - target) < 0.12, (kind, rates[kind], target)


def test_world_builds_the_same_from_its_seed(tmp_path):
    small = dict(name="instructions", num_train=24, num_eval=10, num_heldout=10, sft_steps=3, judge_lm_steps=2)
    a = build_task(TaskConfig(**small, cache_dir=str(tmp_path / "a")), log=lambda m: None)
    b = build_task(TaskConfig(**small, cache_dir=str(tmp_path / "b")), log=lambda m: None)
    other = build_task(TaskConfig(**small, seed=1, cache_dir=str(tmp_path / "c")), log=lambda m: None)
    assert a.checksum() == b.checksum() != other.checksum()
    assert set(a.split("train").column_names) >= {"prompt", "reference", "topic", "constraints"}


def test_each_world_needs_its_own_gold_reward():
    with pytest.raises(ConfigError, match="oracle.reward.model=rayrlhf.task.instructions.oracle:gold_reward"):
        load_config(REPO / "examples" / "quickstart.yaml", ["task.name=instructions"])
    with pytest.raises(ConfigError, match="set oracle.reward.model=rayrlhf.task.oracle:gold_reward"):
        load_config(REPO / "examples" / "instructions.yaml", ["task.name=summaries"])
    assert load_config(REPO / "examples" / "instructions.yaml").task.name == "instructions"


def test_judge_data_names_the_prompts_topic_no_more_often_than_any_other_noun():
    """The judge LM learns from texts whose nouns do not depend on the prompt's topic, so no model fitted on them
    can tell a text on the topic from one off it: each topic's nouns and the off-topic ones come at one rate."""
    rng, own, other, off = random.Random(0), 0, 0, 0
    all_topic = {w for nouns in world.TOPICS.values() for w in nouns}
    for row in world.make_split(8, 1500):
        spec = rules.parse_prompt(row["prompt"])
        said = rules.words(world.judge_response(rng, spec))
        own += sum(w in world.TOPICS[spec.topic] for w in said)
        other += sum(w in all_topic - set(world.TOPICS[spec.topic]) for w in said)
        off += sum(w in world.OFF_TOPIC for w in said)
    per_own, per_other, per_off = own / 8, other / (len(all_topic) - 8), off / len(world.OFF_TOPIC)
    assert per_own == pytest.approx(per_other, rel=0.2) and per_own == pytest.approx(per_off, rel=0.2), \
        (per_own, per_other, per_off)


@pytest.mark.slow
@pytest.mark.extended  # builds the default world (~3.5 min); the properties it checks are tested above on the generators
def test_built_world_has_graded_partial_sources_and_an_improvable_policy():
    """Builds the default instruction world (about 3.5 minutes on 2 cores; cached in $RAYRLHF_CACHE) and measures its
    sources on the initial policy's pairs, as `rayrlhf rewards evaluate examples/instructions.yaml` does."""
    from rayrlhf.rewards import build_source
    from rayrlhf.rewards.evaluate import evaluate_sources, task_pairs
    from rayrlhf.task.build import resolve_model

    cfg = load_config(REPO / "examples" / "instructions.yaml")
    pairs, info = task_pairs(cfg, log=lambda m: None)
    rows = {r["source"]: r for r in evaluate_sources(cfg, pairs, log=lambda m: None)}
    agreement = {name: r["agreement"] for name, r in rows.items()}
    assert max(r["ci_low"] for r in rows.values()) > 0.52, agreement  # some source tells people's choice from chance
    assert max(agreement.values()) < 0.75, agreement                   # none sees most of it
    assert agreement["polish"] < 0.55, agreement                       # the misleading one is no help
    policy, reference = info["initial_policy_oracle_score"], info["reference_oracle_score"]
    assert reference["mean"] - policy["mean"] > 1.5 and info["pairs"] >= 150  # room to improve
    split = build_task(cfg.task).split("eval")
    prompts, refs = split["prompt"], split["reference"]
    rng = random.Random(0)
    off = [_off_topic(r, t, rng) for r, t in zip(refs, split["topic"], strict=True)]
    judge = build_source(next(s for s in cfg.sources if s.name == "judge_lm"), lambda m: resolve_model(m, cfg.task))
    prefers_topic = sum(a > b for a, b in zip(judge.score(prompts, refs, refs), judge.score(prompts, off, refs), strict=True))
    assert 0.35 < prefers_topic / len(prompts) < 0.65, prefers_topic  # the judge LM cannot see the topic either

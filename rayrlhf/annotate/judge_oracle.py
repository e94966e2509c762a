"""``oracle.backend: judge``: an LLM judge answers the queries (AI feedback standing in for people in a pilot or a
comparison; docs/rewards_service.md, "LLM judges").

``oracle.reward`` (``kind: judge``) names the endpoint and the prompts; ``judge.mode`` says how a query is asked:
``pointwise`` rates each of the K responses (ranking by rating; an unparsed or all-equal rating abstains),
``pairwise`` asks for ``[[A]]`` / ``[[B]]`` / ``[[C]]`` on two responses and ``listwise`` for a ranking of K. With
``judge.swap`` a pairwise or listwise query is asked twice, the second time with the responses in reversed order, to
cancel position bias (Zheng et al. 2023): a pairwise verdict that flips with the order is a tie, two rankings are
combined by Borda count (:func:`rayrlhf.annotate.ranking.combine`). Answers that do not parse are abstentions. Each
answer is handed to ``record`` (the ledger) the moment its calls are back, with its token usage and price in
``meta["judge"]``; the report adds them up per label.
"""

from __future__ import annotations

from collections.abc import Sequence

from rayrlhf.annotate.backend import AnnotationBackend
from rayrlhf.annotate.ranking import Vote, combine
from rayrlhf.config import SourceConfig
from rayrlhf.core.records import Answer, Query, Record
from rayrlhf.rewards.judge import ChatAnswer, chat_request, cost, parse_chat, pointwise_prompt
from rayrlhf.rewards.judge_parse import parse_ranking, parse_rating, parse_verdict
from rayrlhf.rewards.transport import EndpointCaller, served_model

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def responses_block(responses: Sequence[str], order: Sequence[int], lettered: bool) -> str:
    """The responses in display ``order``, each in ``[Response A] ... [End of response A]`` (or numbered)."""
    names = [LETTERS[s] if lettered else str(s + 1) for s in range(len(order))]
    return "\n\n".join(f"[Response {n}]\n{responses[i]}\n[End of response {n}]" for n, i in zip(names, order, strict=True))


def display_orders(k: int, swap: bool) -> list[list[int]]:
    """The orders a ranking query is shown in: as given, and reversed when ``swap``."""
    return [list(range(k)), list(reversed(range(k)))] if swap else [list(range(k))]


def read_pairwise(texts: list[str], orders: list[list[int]]) -> list[int] | None:
    """A ranking of two responses from one answer per display order; ``None`` for no verdict, a tie, or verdicts
    that disagree once mapped back to the responses (position bias, not preference)."""
    winners = set()
    for text, order in zip(texts, orders, strict=True):
        verdict = parse_verdict(text)
        if verdict in (None, "tie"):
            return None
        winners.add(order[0] if verdict == "A" else order[1])
    if len(winners) != 1:
        return None
    (w,) = winners
    return [w, 1 - w]


def read_listwise(texts: list[str], orders: list[list[int]], k: int) -> tuple[list[int] | None, int]:
    """A ranking of K responses from one answer per display order, Borda-combined (``None`` when none parsed or
    the orders cancel out, every response with the same points); and how many answers parsed."""
    votes = []
    for text, order in zip(texts, orders, strict=True):
        slots = parse_ranking(text, k)
        if slots is not None:
            votes.append(Vote("judge", [order[s] for s in slots], False, None))
    if not votes:
        return None, 0
    points = [sum((k - 1 - v.ranking.index(i)) / (k - 1) for v in votes) for i in range(k)]
    if len(set(points)) == 1:  # the two orders cancel out exactly: position bias, no preference
        return None, len(votes)
    return combine(votes, k, orders[0])[0], len(votes)


def read_pointwise(texts: list[str], min_score: float, max_score: float) -> list[int] | None:
    """A ranking from K ratings (best first, ties in response order); ``None`` if any is unparsed or all are equal."""
    ratings = [parse_rating(t, min_score, max_score) for t in texts]
    if any(r is None for r in ratings) or len(set(ratings)) == 1:
        return None
    return sorted(range(len(ratings)), key=lambda i: -ratings[i])


class JudgeOracle(AnnotationBackend):
    """The judge backend (an LLM judge answers every query; :class:`~rayrlhf.annotate.backend.AnnotationBackend`)."""

    def __init__(self, reward: SourceConfig) -> None:
        assert reward.kind == "judge" and reward.endpoint is not None
        self.judge, self.model = reward.judge_settings(), served_model(reward)
        self.caller = EndpointCaller(reward.endpoint, f"oracle judge '{reward.name}'")

    def _prompts(self, q: Query) -> tuple[list[str], list[list[int]]]:
        k, j = len(q.responses), self.judge
        if j.mode == "pointwise":
            return [pointwise_prompt(j, q.prompt, r, q.reference) for r in q.responses], []
        orders = display_orders(k, j.swap)
        lettered = j.mode == "pairwise"
        return [j.ranking_prompt().format(prompt=q.prompt, k=k, reference=q.reference or "",
                                         responses=responses_block(q.responses, o, lettered))
                for o in orders], orders

    def _answer(self, q: Query, answers: list[ChatAnswer], orders: list[list[int]]) -> Answer:
        texts, j = [a.text for a in answers], self.judge
        if j.mode == "pointwise":
            ranking, parsed = read_pointwise(texts, j.min_score, j.max_score), sum(
                parse_rating(t, j.min_score, j.max_score) is not None for t in texts)
        elif j.mode == "pairwise":
            ranking, parsed = read_pairwise(texts, orders), sum(parse_verdict(t) is not None for t in texts)
        else:
            ranking, parsed = read_listwise(texts, orders, len(q.responses))
        tokens = [sum(a.prompt_tokens for a in answers), sum(a.completion_tokens for a in answers)]
        usage = {"mode": j.mode, "calls": len(answers), "parsed": parsed, "prompt_tokens": tokens[0],
                 "completion_tokens": tokens[1], "cost": cost(j, *tokens)}
        return Answer(q.id, ranking, None, {"annotator": f"judge:{self.model}", "judge": usage})

    def ask(self, queries: list[Query], record: Record) -> None:
        asked = [self._prompts(q) for q in queries]
        calls = [(qi, c) for qi, (prompts, _) in enumerate(asked) for c in range(len(prompts))]
        got: dict[int, dict[int, ChatAnswer]] = {}

        def done(i: int, answer: ChatAnswer) -> None:  # a query is recorded as soon as all its calls are back
            qi, c = calls[i]
            got.setdefault(qi, {})[c] = answer
            if len(got[qi]) == len(asked[qi][0]):
                record(queries[qi], self._answer(queries[qi], [got[qi][n] for n in range(len(got[qi]))], asked[qi][1]))

        payloads = [chat_request(self.judge, self.model, asked[qi][0][c]) for qi, c in calls]
        self.caller.run_all(payloads, lambda i, body: parse_chat(body), done)

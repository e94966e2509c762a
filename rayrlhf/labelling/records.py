"""The labelling decision of one round, as a typed record: the row of ``RUN_DIR/model_labels.jsonl`` is written from it
and read back into it, so a resumed run replays the same split and the same model labels."""

from __future__ import annotations

from dataclasses import dataclass

from rayrlhf.labelling.guarantee import Certificate


@dataclass(frozen=True)
class ModelLabelled:
    """The label model's label of one item: its ranking of the K responses, how sure it is (the smallest
    probability among the pairs the label states) and, when it states only some of its ranking's best/worst pairs
    (``oracle.certify_unit: pair``), those (chosen, rejected) pairs."""

    index: int
    query_id: str
    ranking: tuple[int, ...]
    confidence: float
    pairs: tuple[tuple[int, int], ...] | None = None

    def to_json(self) -> dict:
        row = {"index": self.index, "query_id": self.query_id, "ranking": list(self.ranking), "confidence": self.confidence}
        return row | ({"pairs": [list(p) for p in self.pairs]} if self.pairs is not None else {})

    @classmethod
    def from_json(cls, row: dict) -> ModelLabelled:
        pairs = tuple((int(a), int(b)) for a, b in row["pairs"]) if row.get("pairs") is not None else None
        return cls(int(row["index"]), row["query_id"], tuple(int(k) for k in row["ranking"]), float(row["confidence"]),
                   pairs)


@dataclass(frozen=True)
class RoundDecision:
    """Who labels each item of round ``round`` of ``iteration`` (indices into the round's items):

    - ``human``: people answer these (the spot checks among them); ``human_ids`` are their query ids;
    - ``model``: the label model's labels, trained on and never paid;
    - ``spot``: the model's own label of spot-checked items, compared with the person's answer (which is trained on);
    - ``audit``: people's answers kept out of the label model's fit, which certify its accuracy (``guaranteed``);
    - every other item: nobody (identical responses, or beyond the round's quota).

    ``rule`` names the rule that decided, ``reason`` why its human items went to people (``burn-in`` while the label
    model may not label yet), ``certificate`` the threshold the model labelled at and its accuracy bound."""

    iteration: int
    round: int
    rule: str
    human: tuple[int, ...]
    human_ids: tuple[str, ...]
    model: tuple[ModelLabelled, ...] = ()
    spot: tuple[ModelLabelled, ...] = ()
    reason: str = ""
    identical: tuple[int, ...] = ()
    audit: tuple[int, ...] = ()
    certificate: Certificate | None = None

    def who(self, index: int) -> str:
        """``people``, ``model`` or ``nobody``."""
        if index in self.human:
            return "people"
        return "model" if any(m.index == index for m in self.model) else "nobody"

    def why(self, index: int) -> str:
        """One line saying why item ``index`` is labelled the way :meth:`who` says."""
        if index in self.identical:
            return "its K responses are one text: nothing to rank"
        if index in self.audit:
            return "audit: a random prompt a person answers, kept out of the label model's fit, to certify its accuracy"
        if any(s.index == index for s in self.spot):
            return "spot check: the label model is confident here, a person measures it"
        if index in self.human:
            return f"{self.rule}: {self.reason}"
        if any(m.index == index for m in self.model):
            return f"{self.rule}: the label model labels what people do not"
        return f"{self.rule}: beyond this round's human quota"

    def to_json(self) -> dict:
        return {"iteration": self.iteration, "round": self.round, "rule": self.rule, "reason": self.reason,
                "model": [m.to_json() for m in self.model], "spot": [s.to_json() for s in self.spot],
                "human": [{"index": i, "query_id": q} for i, q in zip(self.human, self.human_ids, strict=True)],
                "identical": list(self.identical), "audit": list(self.audit),
                "certificate": self.certificate.to_json() if self.certificate is not None else None}

    @classmethod
    def from_json(cls, row: dict) -> RoundDecision:
        return cls(int(row["iteration"]), int(row["round"]), row.get("rule", ""),
                   tuple(int(e["index"]) for e in row["human"]), tuple(e["query_id"] for e in row["human"]),
                   tuple(ModelLabelled.from_json(e) for e in row["model"]), tuple(ModelLabelled.from_json(e) for e in row["spot"]),
                   row.get("reason", ""), tuple(int(i) for i in row.get("identical", ())),
                   tuple(int(i) for i in row.get("audit", ())),
                   Certificate.from_json(row["certificate"]) if row.get("certificate") else None)

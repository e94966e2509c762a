"""Who labels each prompt of a round: people (through the run's oracle backend), the label model, or nobody, and why
(docs/architecture.md, "One labelling decision").

Pure functions and records, no Ray: :func:`~rayrlhf.labelling.decide.decide_round` applies the run's
:class:`~rayrlhf.labelling.rules.LabellingRule` (chosen from the registry by :func:`~rayrlhf.labelling.rules.rule_for`)
to a round, with the human quota and the label model's burn-in, and returns a
:class:`~rayrlhf.labelling.records.RoundDecision`. ``rayrlhf.run.labelling`` feeds it the sources' scores and the
label model's labels and keeps its record.
"""

from rayrlhf.labelling.decide import RoundView, askable, decide_round
from rayrlhf.labelling.quota import human_quota, label_quota
from rayrlhf.labelling.records import ModelLabelled, RoundDecision
from rayrlhf.labelling.rules import RULES, LabellingRule, Split, register_rule, rule_classes, rule_for

__all__ = ["RULES", "LabellingRule", "ModelLabelled", "RoundDecision", "RoundView", "Split", "askable", "decide_round",
           "human_quota", "label_quota", "register_rule", "rule_classes", "rule_for"]

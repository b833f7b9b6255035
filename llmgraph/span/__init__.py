"""Our fine-tunable span baseline: a small transformer encoder that tags entity spans (BIO) and
classifies relations between entity pairs, trained with ``train_span`` and run with ``SpanPredictor``."""

from llmgraph.span.predict import SpanPredictor
from llmgraph.span.train import train_span

__all__ = ["SpanPredictor", "train_span"]

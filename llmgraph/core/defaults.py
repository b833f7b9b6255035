"""Every default that more than one part of llmgraph decides by, declared once."""

from __future__ import annotations

# Reports per call of a CPU engine (vLLM on CPU, transformers) or a predictor (span baseline, radgraph
# package) when nothing else is asked; vLLM on a GPU keeps hundreds in flight.
DEFAULT_BATCH_SIZE = 32
PREDICTOR_BATCH_SIZE = DEFAULT_BATCH_SIZE
GPU_BATCH_SIZE = 512

# Confidence intervals and paired tests (``llmgraph evaluate``, ``compare``'s ``bootstrap:`` block).
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
RANDOMIZATION_SHUFFLES = 10_000  # of the paired approximate randomization test


def significance_level(confidence: float = CONFIDENCE) -> float:
    """The p-value under which a difference is called significant: the level the CIs are drawn at
    (95% CIs: 0.05), so a table's "significant" and its intervals agree."""
    return round(1.0 - confidence, 10)


# Files the RadGraph readers take (a .json collection or a .jsonl of documents).
RADGRAPH_SUFFIXES = (".json", ".jsonl")

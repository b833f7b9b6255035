"""The examples one training runs on: the training and dev reports as examples (``examples.py``), with what
was skipped and why; no training example left is an error that says why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.rules import MAX_REPORT_WORDS
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.training.llm.config import LLMTrainingConfig
from llmgraph.training.llm.examples import TrainingExample, build_examples


@dataclass
class TrainingSet:
    """The examples of the training and dev reports, the counts of ``build_examples`` (``dev_counts`` None
    without dev reports) and the training reports (or chunks) skipped, with why."""

    train: list[TrainingExample]
    counts: Counter
    skipped: dict[str, str]
    dev: list[TrainingExample]
    dev_counts: Counter | None


def training_set(tokenizer: Any, prompt: PromptTemplate, train_docs: list[Document],
                 dev_docs: list[Document] | None, config: LLMTrainingConfig, stop_ids: set[int],
                 log: Callable[[str], None]) -> TrainingSet:
    """The examples of ``train_docs`` and ``dev_docs`` as ``config`` cuts them; the training examples that
    are too long are logged (they are never truncated)."""
    examples, counts, skipped = build_examples(tokenizer, prompt, train_docs, config.labels, config.max_length,
                                               MAX_REPORT_WORDS, stop_ids, config.chunk_budget())
    if not examples:
        why = {"skipped_too_long": f"longer than max_length {config.max_length} tokens",
               "skipped_no_entities": "without entities", "skipped_unreadable": "that cannot be read"}
        first_id, first_problem = next(iter(skipped.items()))
        raise InputError(f"no training example left of {len(train_docs)} reports "
                         f"({', '.join(f'{counts[key]} {text}' for key, text in why.items() if counts[key])}); "
                         f"report {first_id}: {first_problem}")
    dev_examples, dev_counts, _ = (build_examples(tokenizer, prompt, dev_docs, config.labels, config.max_length,
                                                  MAX_REPORT_WORDS, stop_ids, config.chunk_budget())
                                   if dev_docs else ([], None, {}))
    if counts["skipped_too_long"]:
        log(f"skipped {counts['skipped_too_long']} training examples longer than max_length {config.max_length} "
            "tokens (never truncated)")
    return TrainingSet(examples, counts, skipped, dev_examples, dev_counts)

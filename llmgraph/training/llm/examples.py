"""Training examples of a fine-tuned LLM: exactly what the extractor sends and what it should answer.

The prompt is ``PromptTemplate.render`` (the extractor's own function) under the model's chat
template with the generation prompt; the answer is ``example_output`` (the function that writes
few-shot exemplars) followed by the template's end-of-turn token. Training and inference cannot
drift apart: a test renders every sample gold answer and grounds it back to its document.
Only answer tokens carry loss.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from llmgraph.core.document import Document
from llmgraph.core.labels import LabelSet
from llmgraph.core.rules import report_problem
from llmgraph.extraction.chunking import annotated_chunks
from llmgraph.extraction.prompting import PromptTemplate, example_output

IGNORE = -100  # the label of tokens that carry no loss (prompt, padding)


@dataclass(frozen=True)
class TrainingExample:
    """One report as token ids: ``prompt_length`` prompt tokens, then the answer (with its end token)."""

    id: str
    input_ids: tuple[int, ...]
    prompt_length: int

    @property
    def answer_tokens(self) -> int:
        return len(self.input_ids) - self.prompt_length

    def labels(self) -> list[int]:
        return [IGNORE] * self.prompt_length + list(self.input_ids[self.prompt_length:])


def answer_text(doc: Document, labels: LabelSet) -> str:
    """The answer the model should write for an annotated ``doc``: the exemplar rendering."""
    return example_output(doc.with_labels(labels))


def _after_answer(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """What the chat template writes after an answer (``<|im_end|>`` and a newline for ChatML), found by
    rendering the conversation with a marker as the answer."""
    marker = "\u2063LLMGRAPH\u2063"
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": marker}], tokenize=False)
    return full.split(marker, 1)[1] if marker in full else ""


def stop_token_ids(tokenizer: Any, generation_config: Any = None) -> set[int]:
    """The tokens generation stops on: the tokenizer's EOS and the generation config's (Llama 3 ends a
    turn on ``<|eot_id|>``)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    extra = getattr(generation_config, "eos_token_id", None)
    ids |= set(extra) if isinstance(extra, (list, tuple)) else {extra} if extra is not None else set()
    return ids


def training_example(tokenizer: Any, prompt: PromptTemplate, doc: Document, labels: LabelSet,
                     stop_ids: set[int] | None = None) -> TrainingExample:
    """``doc`` as token ids with the answer's start; the answer ends on the first stop token the chat
    template writes after it (else the tokenizer's EOS is appended), and nothing after it carries loss."""
    messages = prompt.render(doc, labels)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer_text(doc, labels) + _after_answer(tokenizer, messages),
                           add_special_tokens=False)["input_ids"]
    stop_ids = stop_token_ids(tokenizer) if stop_ids is None else stop_ids
    end = next((n for n, token in enumerate(answer_ids) if token in stop_ids), None)
    if end is not None:
        answer_ids = answer_ids[:end + 1]
    elif tokenizer.eos_token_id is not None:
        answer_ids.append(tokenizer.eos_token_id)
    return TrainingExample(doc.id, tuple(prompt_ids + answer_ids), len(prompt_ids))


def build_examples(tokenizer: Any, prompt: PromptTemplate, docs: Iterable[Document], labels: LabelSet,
                   max_length: int, max_words: int | None = None, stop_ids: set[int] | None = None,
                   chunk_words: int = 0) -> tuple[list[TrainingExample], Counter, dict[str, str]]:
    """The training examples of ``docs``, and what was skipped: reports without entities, reports
    ``report_problem`` refuses, and examples longer than ``max_length`` tokens (never truncated: a
    truncated answer would teach the model to stop mid-graph). A report longer than ``chunk_words``
    words gives one example per chunk, as extraction splits it (0: whole reports). Returns the
    examples, the counts and report (or chunk) id -> why it was skipped."""
    examples, counts, skipped = [], Counter(), {}
    for doc in docs:
        problem = report_problem(doc, max_words)
        if problem is None and not doc.entities:
            problem = "no entities"
        if problem == "no entities":
            counts["skipped_no_entities"] += 1
        elif problem is not None:
            counts["skipped_unreadable"] += 1
        if problem is not None:
            skipped[doc.id] = problem
            continue
        pieces, lost = annotated_chunks(doc, chunk_words)
        counts["reports_chunked"] += not (len(pieces) == 1 and pieces[0] is doc)
        counts["relations_lost_across_chunks"] += lost
        for piece in pieces:
            example = training_example(tokenizer, prompt, piece, labels, stop_ids)
            if len(example.input_ids) > max_length:
                counts["skipped_too_long"] += 1
                skipped[piece.id] = f"longer than max_length ({len(example.input_ids)} > {max_length} tokens)"
                continue
            examples.append(example)
            counts["prompt_tokens"] += example.prompt_length
            counts["answer_tokens"] += example.answer_tokens
    counts["examples"] = len(examples)
    return examples, counts, skipped


def length_buckets(examples: list[TrainingExample], batch_size: int, order: list[int]) -> list[list[TrainingExample]]:
    """Batches of similar length: ``order`` (a shuffled index) is cut into windows of 50 batches, each
    window sorted by length and cut into batches; the batches are returned in window order. Padding
    stays small and the set of batch shapes bounded, while epochs still differ in order."""
    window = 50 * batch_size
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted((examples[i] for i in order[start:start + window]), key=lambda e: len(e.input_ids))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return batches

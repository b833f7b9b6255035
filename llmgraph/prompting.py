"""Prompts are Jinja2 files in ``prompts/``; this module renders them into chat messages.

A prompt file renders text in which ``<|system|>``, ``<|user|>`` and ``<|assistant|>`` lines
start the messages. Templates see ``report``, ``modality``, ``label_set`` and ``examples``
(few-shot exemplars, each with ``report`` and ``output``: the JSON the model should write).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from llmgraph.document import Document
from llmgraph.errors import InputError
from llmgraph.grammar import span_text
from llmgraph.labels import LabelSet
from llmgraph.resources import resource

_ROLE_LINE = re.compile(r"^<\|(system|user|assistant)\|>[ \t]*\n?", re.MULTILINE)


def prompt_dir() -> Path:
    return resource("prompts")


def sample_gold_path() -> Path:
    """The sample gold set: the default pool of few-shot exemplars."""
    return resource("eval/data/sample_gold.json")


def report_text(doc: Document) -> str:
    """The report as the model reads it: the chosen sections of the original, or the token text."""
    if doc.source_text is None:
        return doc.text
    sections = doc.meta.get("sections")
    if sections:
        return "\n".join(doc.source_text[start:end].strip() for start, end in sections.values())
    return doc.source_text.strip()


def example_output(doc: Document) -> str:
    """The JSON a model should write for an annotated document (entities in report order)."""
    text = {e.id: span_text(doc, e.start_ix, e.end_ix) for e in doc.entities}
    entities = [
        {"text": text[e.id], "label": e.label,
         "relations": [[r.type, text[r.target]] for r in doc.relations_from(e.id)]}
        for e in sorted(doc.entities, key=lambda entity: entity.span)
    ]
    return json.dumps({"entities": entities}, ensure_ascii=False, separators=(",", ":"))


def _stable_rank(doc_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()


def select_examples(pool: list[Document], doc: Document, k: int, strategy: str = "fixed", seed: int = 0) -> list[Document]:
    """``k`` exemplars for ``doc``: a fixed seeded draw, or the nearest by word overlap.

    The report itself (same id or same text, or a chunk of it) is never its own exemplar.
    """
    origin = doc.meta.get("chunk_of", doc.id)
    candidates = [other for other in pool if other.id != doc.id and other.text != doc.text and other.entities
                  and other.meta.get("chunk_of", other.id) != origin]
    if strategy == "fixed":
        return sorted(candidates, key=lambda other: _stable_rank(other.id, seed))[:k]
    if strategy == "nearest":
        words = set(doc.text.lower().split())

        def overlap(other: Document) -> float:
            theirs = set(other.text.lower().split())
            return len(words & theirs) / max(1, len(words | theirs))

        return sorted(candidates, key=lambda other: (-overlap(other), other.id))[:k]
    raise InputError(f"unknown exemplar strategy {strategy!r} (expected fixed or nearest)")


@dataclass
class PromptTemplate:
    """One prompt file, loaded once and rendered per report."""

    path: Path

    @classmethod
    def load(cls, name: str | Path) -> "PromptTemplate":
        """A prompt by name (``few-shot`` -> ``prompts/few-shot.j2``) or by path.

        A bare name (no folder, no suffix) is always a shipped prompt, so a file or folder of that
        name in the working directory never shadows it; anything else is a path.
        """
        text = str(name)
        bare = isinstance(name, str) and "/" not in text and os.sep not in text and not Path(text).suffix
        path = prompt_dir() / f"{text}.j2" if bare else Path(text).expanduser()
        if not path.is_file():
            available = ", ".join(sorted(p.stem for p in prompt_dir().glob("[!_]*.j2")))
            what = "is not a file" if path.exists() else "does not exist"
            raise InputError(f"no prompt file {text!r}: {path} {what} (shipped prompts: {available}; or give the path "
                             "of a .j2 file)")
        return cls(path.resolve())

    @cached_property
    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    @cached_property
    def _template(self) -> jinja2.Template:
        loader = jinja2.FileSystemLoader([str(self.path.parent), str(prompt_dir())])
        # The sandbox: a prompt file from anywhere can read its variables, never Python internals.
        environment = SandboxedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False)
        try:
            return environment.from_string(self.source)
        except jinja2.TemplateError as error:
            raise InputError(f"prompt template error: {error}", self.path) from None

    def render(self, doc: Document, label_set: LabelSet, examples: list[Document] = ()) -> list[dict[str, str]]:
        """Chat messages for one report."""
        try:
            text = self._template.render(
                report=report_text(doc), modality=doc.modality, label_set=label_set.value,
                section=doc.meta.get("section") if "chunk_of" in doc.meta else None,
                examples=[{"report": report_text(e), "output": example_output(e.with_labels(label_set))}
                          for e in examples],
            )
        except (jinja2.TemplateError, SecurityError) as error:
            raise InputError(f"prompt template error: {error}", self.path) from None
        parts = _ROLE_LINE.split(text)
        if parts[0].strip():
            raise InputError("text before the first <|system|>/<|user|> line", self.path)
        messages = [{"role": role, "content": content.strip()} for role, content in zip(parts[1::2], parts[2::2])]
        if not messages or messages[-1]["role"] != "user":
            raise InputError("a prompt must end with a <|user|> message", self.path)
        return messages

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
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.core.resources import resource
from llmgraph.extraction.grammar import span_text

_ROLE_LINE = re.compile(r"^<\|(system|user|assistant)\|>[ \t]*\n?", re.MULTILINE)


def prompt_dir() -> Path:
    return resource("prompts")


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


class _PromptLoader(jinja2.BaseLoader):
    """Templates a prompt includes or imports: from the prompt's own folder, then the shipped prompts.

    A name is looked up inside those folders only: a path that leaves its folder (``..``, or a symlink
    whose target lies elsewhere) is refused, so a prompt cannot send another file's text to a model."""

    def __init__(self, folders: list[Path]):
        self.folders = [folder.resolve() for folder in folders]

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        pieces = jinja2.loaders.split_template_path(template)  # refuses ".." parts
        for folder in self.folders:
            path = folder.joinpath(*pieces)
            if not path.is_file():
                continue
            if not path.resolve().is_relative_to(folder):
                raise InputError(f"prompt template {template!r} links out of its folder {folder} (to "
                                 f"{path.resolve()}): a prompt may include only files of its own folder")
            return path.read_text(encoding="utf-8"), str(path), lambda: True
        raise jinja2.TemplateNotFound(template)


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
    def _environment(self) -> SandboxedEnvironment:
        # The sandbox: a prompt file from anywhere can read its variables, never Python internals.
        loader = _PromptLoader([self.path.parent, prompt_dir()])
        return SandboxedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False)

    @cached_property
    def includes(self) -> dict[str, str]:
        """Every template the prompt includes or imports, through each other too: name -> text. A name
        computed at render time cannot be followed: then every template of both folders counts."""
        found: dict[str, str] = {}
        pending = [self.source]
        while pending:
            try:
                names = list(jinja2.meta.find_referenced_templates(self._environment.parse(pending.pop())))
            except jinja2.TemplateSyntaxError as error:
                raise InputError(f"prompt template error: {error}", self.path) from None
            if None in names:  # {% include some_variable %}
                folders = self._environment.loader.folders
                names = [path.name for folder in folders for path in sorted(folder.glob("*.j2"))]
            for name in names:
                if name in found or name is None:
                    continue
                try:
                    found[name] = self._environment.loader.get_source(self._environment, name)[0]
                except jinja2.TemplateNotFound:
                    raise InputError(f"prompt template error: it includes {name!r}, which is neither in its "
                                     f"folder nor a shipped prompt", self.path) from None
                except InputError as error:
                    raise error.at(self.path) from None
                pending.append(found[name])
        return found

    @cached_property
    def sha256(self) -> str:
        """Of the prompt's text and of every template it includes, so an edited ``_common.j2`` is a new prompt.
        A prompt that includes nothing keeps the hash of its own text."""
        if not self.includes:
            return hashlib.sha256(self.source.encode()).hexdigest()
        parts = [("", self.source), *sorted(self.includes.items())]
        lines = "".join(f"{name}\t{hashlib.sha256(text.encode()).hexdigest()}\n" for name, text in parts)
        return hashlib.sha256(lines.encode()).hexdigest()

    def copy_into(self, folder: Path, name: str) -> None:
        """The prompt as ``folder/name`` with every template it includes beside it, so ``folder`` renders it
        alone (a model folder): the copy has the same ``sha256``."""
        (folder / name).write_text(self.source, encoding="utf-8")
        for included, text in self.includes.items():
            target = folder / included
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    @cached_property
    def _template(self) -> jinja2.Template:
        _ = self.includes  # every included template found (or refused) before the first render
        try:
            return self._environment.from_string(self.source)
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
        except InputError as error:  # an include computed at render time that links out of its folder
            raise error.at(self.path) from None
        parts = _ROLE_LINE.split(text)
        if parts[0].strip():
            raise InputError("text before the first <|system|>/<|user|> line", self.path)
        messages = [{"role": role, "content": content.strip()} for role, content in zip(parts[1::2], parts[2::2])]
        if not messages or messages[-1]["role"] != "user":
            raise InputError("a prompt must end with a <|user|> message", self.path)
        return messages

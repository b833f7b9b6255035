"""The exemplar pool of a prompted LLM: where it comes from (a gold file, by default the shipped sample
gold set), the check that it can give ``shots`` exemplars per report, and which exemplars each report gets."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.resources import sample_gold_path
from llmgraph.extraction.chunking import annotated_chunks
from llmgraph.io.radgraph_reader import read_radgraph


def pool_source(given: str | Path | None) -> Path:
    """The gold file exemplars are drawn from: the one given, else the sample gold set."""
    return Path(given) if given else sample_gold_path()


def read_pool(given: str | Path | None = None, labeler: str | None = None) -> tuple[Path, list[Document]]:
    """The exemplar pool's file (``pool_source``) and its documents."""
    source = pool_source(given)
    return source, read_radgraph(source, labeler)


EXEMPLAR_STRATEGIES = ("fixed", "nearest")


def chunked_pool(pool: Iterable[Document], chunk_words: int) -> list[Document]:
    """The exemplar pool of a chunked run: the annotated chunks of its reports (a short report stays whole), so
    exemplars are as short as what the model is asked about."""
    return [piece for doc in pool for piece in annotated_chunks(doc, chunk_words)[0]]


def check_exemplar_pool(shots: int, pool: list[Document], source: str | Path | None = None) -> None:
    """Refuse, before any model loads, a pool that cannot give ``shots`` exemplars per report: one without
    annotated reports, or with fewer annotated reports than ``shots``. ``source`` names the pool's file."""
    if not shots:
        return
    annotated = sum(1 for doc in pool if doc.entities)
    if not annotated:
        where = "" if source else ": give a gold file with --examples"
        raise InputError(f"shots {shots} needs exemplars, but the exemplar pool has no annotated reports{where}",
                         source)
    if shots > annotated:
        raise InputError(f"shots {shots} is more than the {annotated} annotated reports of the exemplar pool", source)




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

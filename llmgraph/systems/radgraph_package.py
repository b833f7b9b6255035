"""The fine-tuned span models of the ``radgraph`` package (radgraph, radgraph-xl, modern-radgraph-xl,
echograph), run on the user's machine when the package and its weights are there.

The package runs one report at a time. Its weights come from its own cache
(``~/.cache/radgraph/VERSION/MODEL``); nothing is downloaded here. Its output is read with
the core readers, so the documents are validated like any other RadGraph file.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.io.radgraph import documents_from_raw

RADGRAPH_MODELS = ("radgraph", "radgraph-xl", "modern-radgraph-xl", "echograph")
DEFAULT_RADGRAPH_MODEL = "radgraph-xl"


def radgraph_cache_dir(model_type: str) -> Path:
    """Where the ``radgraph`` package keeps ``model_type``'s weights."""
    from appdirs import user_cache_dir

    return Path(user_cache_dir("radgraph")) / metadata.version("radgraph") / model_type


class RadGraphPackageModel:
    """``radgraph.RadGraph`` behind the predictor interface (``predict``, ``describe``, ``close``)."""

    name = "radgraph"

    def __init__(self, model_type: str = DEFAULT_RADGRAPH_MODEL, cache_dir: str | Path | None = None):
        if model_type not in RADGRAPH_MODELS:
            raise InputError(f"unknown radgraph model {model_type!r} (expected one of {', '.join(RADGRAPH_MODELS)})")
        try:
            from radgraph import RadGraph
        except ImportError as error:
            raise InputError(f"the radgraph package cannot be imported ({error}); install it with "
                             "`pip install radgraph` to use its models") from None
        folder = Path(cache_dir) / model_type if cache_dir else radgraph_cache_dir(model_type)
        if not folder.is_dir() or not any(folder.iterdir()):
            raise InputError(f"radgraph model {model_type!r} is not in its cache {folder}: load it once where the "
                             f"hub is reachable (`python -c \"from radgraph import RadGraph; "
                             f"RadGraph(model_type='{model_type}')\"`) and copy that folder here")
        self.model = model_type
        self.folder = folder
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the package prints its device
                self.radgraph = RadGraph(model_type=model_type, model_cache_dir=str(folder.parent), cuda=-1)
        except Exception as error:  # noqa: BLE001 - any failure of a third-party loader is one message
            raise InputError(f"radgraph model {model_type!r} did not load from {folder}: "
                             f"{type(error).__name__}: {error}") from None
        self.load_seconds = time.perf_counter() - started

    def predict(self, docs: list[Document]) -> list[Document]:
        """Annotated copies of ``docs`` (the package tokenizes as RadGraph-XL does, so tokens agree)."""
        texts = [doc.text for doc in docs if doc.tokens]  # the package reads an empty report as "None"
        if texts:
            with contextlib.redirect_stdout(io.StringIO()):
                raw = self.radgraph(texts)
        predicted, index = [], 0
        for doc in docs:
            if not doc.tokens:
                predicted.append(replace(doc, entities=[], relations=[]))
                continue
            found = documents_from_raw(doc.id, raw[str(index)])[0]
            index += 1
            if found.tokens != doc.tokens:
                raise InputError("the radgraph package tokenized the report differently", doc_id=doc.id)
            predicted.append(replace(doc, entities=found.entities, relations=found.relations))
        return predicted

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "weights": str(self.folder), "batch_size": 1,
                "version": metadata.version("radgraph"), "threads": os.cpu_count()}

    def close(self) -> None:
        del self.radgraph

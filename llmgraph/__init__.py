"""llmgraph: RadGraph graphs from radiology reports with open LLMs, and the harness that measures them.

The public Python API (each name is imported on first use, so ``import llmgraph`` stays light)::

    import llmgraph

    gold = llmgraph.read_radgraph("eval/data/sample_gold.json")
    run = llmgraph.extract(gold[:4])                     # the embedded model, few-shot, per-report grammar
    print(run.errors)                                    # report id -> why it failed
    scores = llmgraph.evaluate(gold[:4], run.documents)  # micro-F1, F1RadGraph, bootstrap CIs
    llmgraph.write_viewer("viewer.html", run.documents, gold[:4])  # the predictions against the gold
    llmgraph.compare("eval/gpt4-mirror.yaml", "out/mirror")        # llmgraph compare: systems x gold sets
    llmgraph.train_llm(gold, None, "out/ft", llmgraph.LLMTrainingConfig(epochs=2))  # llmgraph train-llm
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "extract": "llmgraph.extraction.extractor", "ExtractionConfig": "llmgraph.extraction.config", "Extractor": "llmgraph.extraction.extractor",
    "ExtractionRun": "llmgraph.extraction.extractor", "compare": "llmgraph.harness.compare",
    "Document": "llmgraph.core.document", "Entity": "llmgraph.core.document", "Relation": "llmgraph.core.document",
    "read_radgraph": "llmgraph.io.radgraph_reader", "write_radgraph": "llmgraph.io.radgraph_writer", "load_documents": "llmgraph.io.inputs",
    "evaluate": "llmgraph.evaluation.scoring", "write_viewer": "llmgraph.viz", "InputError": "llmgraph.core.errors",
    "LabelSet": "llmgraph.core.labels", "Decoding": "llmgraph.extraction.backends",
    "train_llm": "llmgraph.training.llm.train", "LLMTrainingConfig": "llmgraph.training.llm.config",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'llmgraph' has no attribute {name!r}")

"""How well a fine-tuned model extracts: entity/relation F1 of a real constrained extraction of dev reports
with the saved model folder, as ``llmgraph extract`` would run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmgraph.core.document import Document
from llmgraph.training.llm.config import LLMTrainingConfig


def dev_scores(model_dir: Path, docs: list[Document], config: LLMTrainingConfig,
               backend: str | None = None) -> dict[str, Any]:
    """Entity/relation F1 of a constrained extraction of ``docs`` with the trained folder (the backend
    extraction uses by default: vLLM when installed), with how many reports parsed."""
    from llmgraph.evaluation.scoring import evaluate
    from llmgraph.extraction.config import ExtractionConfig
    from llmgraph.extraction.extractor import extract

    extraction = ExtractionConfig(backend=backend, model=str(model_dir), prompt=config.prompt, shots=0,
                                  labels=config.labels)
    run = extract(docs, extraction)
    result = evaluate(docs, list(run.documents), samples=0)
    return {"reports": len(docs), "reports_ok": len(run.documents), "entity_f1": result["entity_f1"],
            "relation_f1": result["relation_f1"], "backend": extraction.backend_name(),
            "completion_tokens": run.counts["completion_tokens"]}

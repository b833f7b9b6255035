"""Generation backends behind one small interface (see ``base.Backend``), one file each.

``BACKENDS`` maps a backend's name (``--backend``, ``backend:`` in experiment files) to its class;
a new engine is a file here with a ``Backend`` subclass and one line in the table. The LLM config's
fields that a backend takes (``grammar_backend`` for vllm, ``url``/``api_key_env``/``concurrency``
for openai) name it in their metadata (``llmgraph.extraction.config.ExtractionConfig``).
"""

from __future__ import annotations

from llmgraph.core.registry import Registry
from llmgraph.extraction.backends.base import Backend, Decoding, Generation, GenerationRequest

BACKENDS = Registry("backend", {
    "vllm": "llmgraph.extraction.backends.vllm:VLLMBackend",
    "transformers": "llmgraph.extraction.backends.transformers:TransformersBackend",
    "openai": "llmgraph.extraction.backends.openai:OpenAIBackend",
})


def default_backend() -> str:
    """vLLM when it is installed, else in-process transformers."""
    import importlib.util

    return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"


def create_backend(name: str, model: str | None, decoding: Decoding, **options) -> Backend:
    """Build the named backend for ``model`` (a local folder, a hub-cache id, or a served model name)."""
    return BACKENDS.load(name)(model, decoding, **options)


__all__ = ["BACKENDS", "Backend", "Decoding", "Generation", "GenerationRequest", "create_backend", "default_backend"]

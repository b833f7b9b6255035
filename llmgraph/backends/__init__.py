"""Generation backends behind one small interface (see ``base.Backend``)."""

from __future__ import annotations

from llmgraph.backends.base import Backend, Decoding, Generation, GenerationRequest
from llmgraph.errors import InputError

BACKENDS = ("vllm", "transformers", "openai")


def default_backend() -> str:
    """vLLM when it is installed, else in-process transformers."""
    import importlib.util

    return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"


def create_backend(name: str, model: str, decoding: Decoding, **options) -> Backend:
    """Build the named backend for ``model`` (a local folder, a hub-cache id, or a served model name)."""
    if name == "vllm":
        from llmgraph.backends.vllm import VLLMBackend

        return VLLMBackend(model, decoding, **options)
    if name == "transformers":
        from llmgraph.backends.transformers import TransformersBackend

        return TransformersBackend(model, decoding, **options)
    if name == "openai":
        from llmgraph.backends.openai import OpenAIBackend

        return OpenAIBackend(model, decoding, **options)
    raise InputError(f"unknown backend {name!r} (expected one of {', '.join(BACKENDS)})")


__all__ = ["BACKENDS", "Backend", "Decoding", "Generation", "GenerationRequest", "create_backend", "default_backend"]

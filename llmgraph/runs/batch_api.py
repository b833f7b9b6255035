"""The two steps of an extraction through OpenAI Batch files (``llmgraph batch requests`` / ``results``).

    requests: reports -> the extraction pipeline with ``RequestRecorder`` -> requests.jsonl + its manifest
    (a batch engine runs it: ``vllm run-batch -i requests.jsonl -o results.jsonl --model M``, or a hosted API)
    results:  the manifest's reports and settings -> the same pipeline with ``ResultsBackend`` -> RadGraph JSON

Both steps build the requests with the same code from the same settings, input and exemplars, so the
second finds each report's answer by its ``custom_id`` and checks that the request is byte for byte the
one that was sent. The requests manifest records what the second step needs: the input (path, SHA-256,
how it was read), the LLM settings, the exemplar file, the target, the served model name and the
requests file's SHA-256. The results step runs through ``extract``'s resumable runner: the same
output, partial file and manifest, the same counts and per-report errors.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmgraph import __version__
from llmgraph.core.errors import InputError
from llmgraph.core.fingerprints import file_sha256
from llmgraph.extraction.backends.batch_api import (
    DEFERRED,
    RequestRecorder,
    ResultsBackend,
    read_requests,
    read_results,
)
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.grammar import DEFAULT_GRAMMAR_BACKEND
from llmgraph.extraction.models import resolve_model
from llmgraph.io.atomic import write_atomic, write_json
from llmgraph.io.inputs import iter_run_input
from llmgraph.io.reports import ReportOptions
from llmgraph.runs.runlog import manifest_path
from llmgraph.runs.runner import RunSummary, run_extraction
from llmgraph.systems.base import SystemContext
from llmgraph.systems.kinds import system_config
from llmgraph.systems.llm import LLMSystem

KIND = "llmgraph batch requests"


def _served_name(model: str | None, target: str) -> str:
    """The model name the bodies carry: for a vLLM target, a local model's folder (what ``vllm run-batch
    --model DIR`` serves it as; the embedded default's converted folder); else the name as given."""
    if target != "vllm":
        if not model:
            raise InputError("a hosted batch API needs --model (the model it serves, e.g. gpt-4o)")
        return model
    if not model:
        return str(resolve_model(None))
    path = Path(model).expanduser()
    return str(path.resolve()) if path.is_dir() else model


def _system(config: ExtractionConfig, examples: Path | None, labeler: str, backend: Any) -> LLMSystem:
    context = SystemContext(examples_source=examples, examples_labeler=labeler)
    pool = context.examples() if config.shots else []
    return LLMSystem(config, pool, None, context.examples_source, backend=backend)


def write_requests(source: Path, output: Path, settings: dict[str, Any], options: ReportOptions | None = None,
                   labeler: str | None = None, examples: Path | None = None, target: str = "vllm",
                   served_model: str | None = None) -> dict[str, Any]:
    """One batch request per report (per chunk of a long report) of ``source`` into ``output``, and its
    manifest next to it; returns the manifest. ``settings`` are an LLM system's experiment-file keys."""
    options = options or ReportOptions()
    labeler = labeler or "1"
    settings = {**settings, "backend": "openai"}  # both targets are OpenAI-compatible APIs
    model = served_model or _served_name(settings.get("model"), target)
    grammar_backend = settings.get("grammar_backend") or DEFAULT_GRAMMAR_BACKEND
    config = system_config("llm", settings)
    recorder = RequestRecorder(model, config.decoding, target, grammar_backend)
    system = _system(config, examples, labeler, recorder)
    refused: dict[str, str] = {}  # reports no request was written for (empty, too long, invalid text)
    for _, errors in system.stream(iter_run_input(source, labeler, options)):
        refused |= {key: problem for key, problem in errors.items() if DEFERRED not in problem}
    counts = system.run.counts
    ids = [line["custom_id"] for line in recorder.lines]
    if len(set(ids)) != len(ids):
        twice = next(custom_id for custom_id in ids if ids.count(custom_id) > 1)
        raise InputError(f"report id {twice!r} is used twice (a report id, or a chunk ID#N of a longer report): "
                         "batch requests need unique ids", source)
    write_atomic(output, (json.dumps(line, ensure_ascii=False) + "\n" for line in recorder.lines))
    examples_file = system.examples_source if config.shots else None
    manifest = {
        "llmgraph": __version__, "kind": KIND,
        "input": {"path": str(source.resolve()), "sha256": file_sha256(source), "labeler": labeler,
                  "options": asdict(options), "reports": counts["reports"]},
        "settings": settings,
        "examples": None if examples_file is None else {"path": str(Path(examples_file).resolve()),
                                                         "sha256": file_sha256(examples_file)},
        "target": target, "model": model, "grammar_backend": grammar_backend,
        "requests": {"file": output.name, "count": len(recorder.lines), "sha256": file_sha256(output)},
        "prompt": {"file": str(system.prompt.path), "sha256": system.prompt.sha256},
        "counts": {key: counts[key] for key in ("reports", "chunks", "reports_chunked", "chunks_skipped_empty",
                                                    "chunks_split_in_sentence")},
        "errors": refused,
    }
    write_json(manifest_path(output), manifest)
    return manifest


def read_requests_manifest(requests: Path) -> dict[str, Any]:
    """The manifest ``write_requests`` wrote, checked against the requests file it describes."""
    path = manifest_path(requests)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"has no manifest ({path.name}): write requests files with llmgraph batch requests",
                         requests) from None
    except json.JSONDecodeError as error:
        raise InputError(f"not JSON ({error.msg})", path) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise InputError("not the manifest of llmgraph batch requests", path)
    if file_sha256(requests) != manifest["requests"]["sha256"]:
        raise InputError("changed since llmgraph batch requests wrote it (its SHA-256 differs from the manifest's)",
                         requests)
    return manifest


def _checked_input(manifest: dict[str, Any], given: Path | None) -> Path:
    source = given or Path(manifest["input"]["path"])
    if not source.exists():
        raise InputError("not found: the input of the requests (give its copy with --input)", source)
    if file_sha256(source) != manifest["input"]["sha256"]:
        raise InputError("is not the input the requests were written from (its SHA-256 differs)", source)
    return source


def run_results(requests: Path, results: Path, output: Path, source: Path | None = None, quiet: bool = False,
                resume: dict[str, bool] | None = None) -> tuple[RunSummary, dict[str, Any]]:
    """Ground the answers of ``results`` into RadGraph JSON at ``output`` (and its manifest), through the
    resumable runner; returns the run's summary and manifest."""
    manifest = read_requests_manifest(requests)
    source = _checked_input(manifest, source)
    examples = None
    if manifest["examples"] is not None:
        examples = Path(manifest["examples"]["path"])
        if not examples.exists() or file_sha256(examples) != manifest["examples"]["sha256"]:
            raise InputError("is not the exemplar file the requests were written with (missing or changed)", examples)
    bodies = read_requests(requests)
    answers, counts = read_results(results, bodies, manifest["model"])
    config = system_config("llm", manifest["settings"])
    recorder = RequestRecorder(manifest["model"], config.decoding, manifest["target"], manifest["grammar_backend"])
    backend = ResultsBackend(recorder, bodies, answers, counts | {"results_file": str(results),
                                                                   "results_sha256": file_sha256(results),
                                                                   "requests_file": str(requests)})
    labeler = manifest["input"]["labeler"]
    options = ReportOptions(**{**manifest["input"]["options"],
                               "sections": tuple(manifest["input"]["options"]["sections"])})
    system = _system(config, examples, labeler, backend)
    return run_extraction(system, lambda: iter_run_input(source, labeler, options), output, source, quiet=quiet,
                          resume=resume, fingerprint=backend.fingerprint)

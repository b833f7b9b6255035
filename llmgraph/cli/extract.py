"""``llmgraph extract`` and ``llmgraph merge``: run a system over reports (resumable, sharded, on
this process or on Ray), and join the outputs of the shards of one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer

from llmgraph.cli import options as opts
from llmgraph.cli.base import _flag
from llmgraph.cli.render import _print_run_summary, _print_scores
from llmgraph.cli.settings import _build_system, _given_llm_options, _ray_options, _report_options, _system_settings
from llmgraph.core.document import Document
from llmgraph.core.labels import LabelSet
from llmgraph.extraction.grammar import GrammarMode
from llmgraph.io.inputs import iter_run_input
from llmgraph.io.outputs import check_output
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.reports import ReportOptions


def extract(
    source: Path = typer.Argument(..., metavar="INPUT", help="Reports: .txt, .csv, .jsonl, .parquet, or RadGraph JSON (ids kept, annotations ignored)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to write the RadGraph JSON (.json or .jsonl).", rich_help_panel=opts.OUTPUT),
    gold: Optional[Path] = typer.Option(None, "--gold", metavar="FILE", help="Score the output against this gold file when done (checked first).", rich_help_panel=opts.OUTPUT),
    min_score: Optional[float] = typer.Option(None, "--min-score", min=0.0, max=1.0, metavar="S", help="Leave out of OUTPUT the entities and relations whose confidence is below S (and the relations of a left-out entity), counted in the manifest; the partial file keeps them all, so another S re-runs nothing.", rich_help_panel=opts.OUTPUT),
    strict: bool = _flag("Exit with 1 when any report failed.", "--strict", panel=opts.OUTPUT),
    quiet: bool = _flag("No progress bar.", "--quiet", "-q", panel=opts.OUTPUT),
    text_column: Optional[str] = opts.OPTION_TEXT_COLUMN,
    id_column: Optional[str] = opts.OPTION_ID_COLUMN,
    modality: Optional[str] = opts.OPTION_MODALITY,
    sections: Optional[str] = opts.OPTION_SECTIONS,
    txt_layout: opts.TxtLayout = opts.OPTION_TXT_LAYOUT,
    labeler: Optional[str] = opts.OPTION_LABELER,
    shard: Optional[str] = typer.Option(None, "--shard", metavar="I/N", help="Only the reports of shard I of N (by a hash of the id; I from 0), for job arrays.", rich_help_panel=opts.INPUT),
    kind: opts.SystemType = typer.Option(opts.SystemType.LLM, "--type", help="llm: an LLM, through --backend; span: a model from train-span (--model DIR); radgraph: a model of the radgraph package (--model NAME).", rich_help_panel=opts.SYSTEM),
    backend: Optional[opts.Backend] = typer.Option(None, "--backend", help="The LLM engine: vllm, transformers or openai (a server) (default: vllm if installed, else transformers).", rich_help_panel=opts.SYSTEM),
    model: Optional[str] = typer.Option(None, "--model", help="LLM: a local HF folder (a train-llm folder or LoRA adapter too), .gguf file, hub-cache id or served model (default: the embedded SmolLM2-135M). span: the train-span folder. radgraph: radgraph, radgraph-xl, modern-radgraph-xl or echograph.", rich_help_panel=opts.SYSTEM),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Reports per backend call (default: the backend's: 512 for vLLM on a GPU, 4 x --concurrency x servers for --backend openai, else 32; chunks of long reports count apart).", rich_help_panel=opts.SYSTEM),
    prompt: Optional[str] = opts.OPTION_PROMPT,
    shots: Optional[int] = opts.OPTION_SHOTS,
    examples: Optional[Path] = opts.OPTION_EXAMPLES,
    exemplars: Optional[opts.Exemplars] = opts.OPTION_EXEMPLARS,
    labels: Optional[LabelSet] = opts.OPTION_LABELS,
    grammar: Optional[GrammarMode] = opts.OPTION_GRAMMAR,
    max_tokens: Optional[int] = opts.OPTION_MAX_TOKENS,
    max_entities: Optional[int] = opts.OPTION_MAX_ENTITIES,
    chunk_words: Optional[int] = opts.OPTION_CHUNK_WORDS,
    temperature: Optional[float] = opts.OPTION_TEMPERATURE,
    seed: Optional[int] = opts.OPTION_SEED,
    confidence: Optional[opts.Confidence] = opts.OPTION_CONFIDENCE,
    fuzzy: Optional[bool] = opts.OPTION_FUZZY,
    grammar_backend: Optional[opts.GrammarBackend] = opts.OPTION_GRAMMAR_BACKEND,
    endpoints: Optional[list[str]] = typer.Option(None, "--endpoint", "--url", metavar="URL", help="An OpenAI-compatible server (default http://127.0.0.1:8000/v1); repeat it to spread requests over several, with failover.", rich_help_panel=opts.SERVER),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help="Requests in flight per server (default: 16).", rich_help_panel=opts.SERVER),
    engine: opts.Engine = typer.Option(opts.Engine.LOCAL, "--engine", help="local: this process; ray: replicas of the system on a Ray cluster (Ray Data; pip install 'llmgraph\\[ray]').", rich_help_panel=opts.SCALE),
    replicas: Optional[int] = typer.Option(None, "--replicas", min=1, help="--engine ray: copies of the system (actors), each loading the model once (default: 1).", rich_help_panel=opts.SCALE),
    cpus_per_replica: Optional[float] = typer.Option(None, "--cpus-per-replica", help="--engine ray: CPU cores each replica reserves (default: 1).", rich_help_panel=opts.SCALE),
    gpus_per_replica: Optional[float] = typer.Option(None, "--gpus-per-replica", help="--engine ray: GPUs each replica reserves (default: 0; 1 for a vLLM engine per GPU).", rich_help_panel=opts.SCALE),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", metavar="ADDR", help="--engine ray: the cluster, HOST:PORT, ray://HOST:PORT or auto (default: RAY_ADDRESS, else a local cluster).", rich_help_panel=opts.SCALE),
    retry_failed: bool = _flag("Run the reports that failed in an earlier run of this output again.", "--retry-failed", panel=opts.RESUME),
    restart: bool = _flag("Throw away an earlier partial run of this output and start over.", "--restart", panel=opts.RESUME),
    force: bool = _flag("Write even if the output's lock says another run is writing it.", "--force", panel=opts.RESUME),
) -> None:
    """Extract RadGraph graphs from reports with an LLM under grammar-constrained decoding (or a span model).

    Finished reports go to OUTPUT.partial.jsonl as they finish; running the same command again after any interruption resumes where it stopped (a report whose text changed runs again). OUTPUT is written when every report is done.
    """
    settings = _system_settings(kind, model, batch_size, _given_llm_options(locals()))
    check_output(output, [source, gold, examples])
    options = _report_options(text_column, id_column, modality, sections, txt_layout)
    reports = _shard_reader(source, labeler, options, shard)
    gold_docs = read_radgraph(gold, labeler) if gold is not None else None  # a bad gold file fails before the run
    ray_options = _ray_options(engine, replicas, cpus_per_replica, gpus_per_replica, ray_address)
    system = _on_engine(_build_system(kind, settings, examples, labeler), kind, settings, ray_options, examples,
                        labeler)
    resume = {"retry_failed": retry_failed, "force": force, "restart": restart}
    summary, manifest = _run(system, reports, output, source, shard, quiet, resume, min_score)
    _print_run_summary(summary, manifest, output)
    if gold_docs is not None:
        _print_scores(gold_docs, output)
    if strict and summary.errors:
        raise typer.Exit(1)


def _shard_reader(source: Path, labeler: Optional[str], options: ReportOptions,
                  shard: Optional[str]) -> Callable[[], Iterator[Document]]:
    """The reports of ``--shard I/N`` (all without it), read as they are needed (input annotations are ignored);
    a malformed ``--shard`` fails here, before the run."""
    from llmgraph.runs.shards import in_shard, parse_shard

    index, count = parse_shard(shard) if shard else (0, 1)

    def reports() -> Iterator[Document]:
        return (doc for doc in iter_run_input(source, labeler or "1", options) if in_shard(doc.id, index, count))

    return reports


def _on_engine(system: Any, kind: opts.SystemType, settings: dict[str, Any], ray_options: Any, examples: Optional[Path],
               labeler: Optional[str]) -> Any:
    """The system as ``--engine`` runs it: itself here, or its replicas on a Ray cluster."""
    if ray_options is None:
        return system
    from llmgraph.runs.ray_engine import RaySystem

    return RaySystem(kind.value, settings, system, ray_options, str(examples) if examples else None, labeler or "1")


def _run(system: Any, reports: Callable[[], Iterator[Document]], output: Path, source: Path, shard: Optional[str],
         quiet: bool, resume: dict[str, bool], min_score: Optional[float] = None) -> tuple[Any, dict]:
    """The run; an interrupted one says how to resume it (exit code 130)."""
    from llmgraph.runs.runner import run_extraction

    try:
        return run_extraction(system, reports, output, source, shard=shard, quiet=quiet, resume=resume,
                              min_score=min_score)
    except KeyboardInterrupt:
        typer.echo(f"llmgraph: interrupted; finished reports are kept in {output}.partial.jsonl: run the same "
                   "command again to resume", err=True)
        raise typer.Exit(130) from None


def merge(
    shards: list[Path] = typer.Argument(..., metavar="SHARD...", help="RadGraph outputs of the shards of one run (run files a glob brings along, such as .partial.jsonl and .manifest.json, are skipped)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="The joined RadGraph .json or .jsonl."),
    allow_missing: bool = _flag("Merge even when the manifests say some shards are missing.", "--allow-missing"),
) -> None:
    """Join the outputs of `extract --shard I/N` runs into one file (a report in two shards is an error)."""
    from llmgraph.runs.shards import merge_shards

    check_output(output, shards)
    summary = merge_shards(shards, output, allow_missing)
    note = f" (skipped {len(summary.skipped)} run files: manifests, partial records)" if summary.skipped else ""
    typer.echo(f"merged {summary.reports} reports from {len(summary.files)} files into {output}{note}", err=True)

"""``llmgraph batch``: extraction through OpenAI Batch files (``requests`` writes them, ``results``
grounds what vllm run-batch or a hosted batch API answered)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from llmgraph.cli import options as opts
from llmgraph.cli.base import Command, Commands, _flag
from llmgraph.cli.render import _print_run_summary, _print_scores, _print_skipped
from llmgraph.cli.settings import _given_llm_options, _report_options, _system_settings
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.extraction.grammar import GrammarMode
from llmgraph.io.outputs import check_output
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.runs.runlog import manifest_path

batch_app = typer.Typer(cls=Commands, no_args_is_help=True,
                        help="Extraction through OpenAI Batch files: vllm run-batch, or a hosted batch API.")


@batch_app.command("requests", cls=Command)
def batch_requests(
    source: Path = typer.Argument(..., metavar="INPUT", help="Reports: .txt, .csv, .jsonl, .parquet, or RadGraph JSON."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to write the requests (.jsonl); its manifest goes next to it.", rich_help_panel=opts.OUTPUT),
    target: opts.BatchTarget = typer.Option(opts.BatchTarget.VLLM, "--target", help="vllm: vllm run-batch or a vLLM server (the per-report grammar goes in each request); openai: a hosted batch API (--grammar json, as response_format).", rich_help_panel=opts.SYSTEM),
    model: Optional[str] = typer.Option(None, "--model", help="The model: a local folder (written into the requests as its path, which vllm run-batch --model DIR serves), or the hosted model's name (default: the embedded SmolLM2-135M).", rich_help_panel=opts.SYSTEM),
    served_model: Optional[str] = typer.Option(None, "--served-model", help="The model name the requests carry, if not --model's (vllm run-batch --served-model-name, a LoRA module's name).", rich_help_panel=opts.SYSTEM),
    text_column: Optional[str] = opts.OPTION_TEXT_COLUMN,
    id_column: Optional[str] = opts.OPTION_ID_COLUMN,
    modality: Optional[str] = opts.OPTION_MODALITY,
    sections: Optional[str] = opts.OPTION_SECTIONS,
    txt_layout: opts.TxtLayout = opts.OPTION_TXT_LAYOUT,
    labeler: Optional[str] = opts.OPTION_LABELER,
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
    force: bool = _flag("Replace an existing requests file and its manifest.", "--force", panel=opts.OUTPUT),
) -> None:
    """Write one OpenAI Batch request per report (per chunk of a long report; custom_id: the report id, or ID#N).

    Run the file with vllm run-batch (or a hosted batch API), then turn its results into graphs with llmgraph batch results. Answers cut off at --max-tokens are not retried: give a budget that fits.
    """
    from llmgraph.runs.batch_api import write_requests

    settings = {"model": model} | _system_settings(opts.SystemType.LLM, model, None, _given_llm_options(locals()))
    check_output(output, [source, examples], suffixes=(".jsonl",))
    if not force and (output.exists() or manifest_path(output).exists()):
        raise InputError("exists (requests sent to a batch API may need it to read their results): give another "
                         "file, or --force to replace it and its manifest", output)
    manifest = write_requests(source, output, settings, _report_options(text_column, id_column, modality, sections,
                                                                       txt_layout),
                              labeler, examples, target.value, served_model)
    counts = manifest["counts"]
    typer.echo(f"{manifest['requests']['count']} requests for {counts['reports'] - len(manifest['errors'])}/"
               f"{counts['reports']} reports written to {output} (model {manifest['model']}; manifest "
               f"{output.name}.manifest.json)", err=True)
    _print_skipped(manifest["errors"], "(no request written; all in the manifest)")


@batch_app.command("results", cls=Command)
def batch_results(
    requests: Path = typer.Argument(..., metavar="REQUESTS", help="The requests file written by llmgraph batch requests (its manifest next to it)."),
    results: Path = typer.Argument(..., metavar="RESULTS", help="The batch results (.jsonl: vllm run-batch's output, or a hosted API's output and error files concatenated)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to write the RadGraph JSON (.json or .jsonl).", rich_help_panel=opts.OUTPUT),
    source: Optional[Path] = typer.Option(None, "--input", metavar="FILE", help="The reports, if no longer where the manifest says (checked by SHA-256).", rich_help_panel=opts.INPUT),
    gold: Optional[Path] = typer.Option(None, "--gold", metavar="FILE", help="Score the output against this gold file when done.", rich_help_panel=opts.OUTPUT),
    strict: bool = _flag("Exit with 1 when any report failed.", "--strict", panel=opts.OUTPUT),
    quiet: bool = _flag("No progress bar.", "--quiet", "-q", panel=opts.OUTPUT),
    retry_failed: bool = _flag("Ground the reports that failed in an earlier run of this output again (e.g. with a results file of re-submitted requests).", "--retry-failed", panel=opts.RESUME),
    restart: bool = _flag("Throw away an earlier partial run of this output and start over.", "--restart", panel=opts.RESUME),
    force: bool = _flag("Write even if the output's lock says another run is writing it.", "--force", panel=opts.RESUME),
) -> None:
    """Parse and ground batch results into RadGraph JSON and a manifest, as llmgraph extract writes them.

    Failed lines, requests without a line and answers that do not ground are per-report errors in the manifest; a results line of another requests file is refused.
    """
    from llmgraph.runs.batch_api import run_results

    check_output(output, [requests, results, source, gold])
    gold_docs = read_radgraph(gold) if gold is not None else None
    summary, manifest = run_results(requests, results, output, source, quiet=quiet,
                                    resume={"retry_failed": retry_failed, "force": force, "restart": restart})
    _print_run_summary(summary, manifest, output)
    if gold_docs is not None:
        _print_scores(gold_docs, output)
    if strict and summary.errors:
        raise typer.Exit(1)

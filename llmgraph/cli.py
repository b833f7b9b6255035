"""The ``llmgraph`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from llmgraph.backends import BACKENDS, Decoding, default_backend
from llmgraph.errors import InputError
from llmgraph.formats import read_radgraph, write_radgraph
from llmgraph.grammar import GrammarMode
from llmgraph.inputs import load_documents
from llmgraph.labels import LabelSet
from llmgraph.metrics import evaluate as evaluate_documents
from llmgraph.reports import ReportOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, help="RadGraph graphs from radiology reports with open LLMs.")
console = Console()

LabelerOption = typer.Option(None, "--labeler", help="For test files with labeler_1/labeler_2: 1, 2 or both.")


def _fail(error: InputError) -> None:
    typer.echo(f"llmgraph: {error}", err=True)
    raise typer.Exit(2)


def _sections(sections: Optional[str]) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in sections.split(",")) if sections else ()


def _ci(result: dict, name: str) -> str:
    low_high = result["ci"].get(name)
    return f"[{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else ""


def _print_evaluation(result: dict) -> None:
    headline = Table(title=f"{result['n_reports']} reports, label set {result['label_set']}, "
                           f"{int(result['bootstrap']['confidence'] * 100)}% bootstrap CI")
    for column in ("metric", "value", "CI", "precision", "recall"):
        headline.add_column(column, justify="left" if column == "metric" else "right")
    for name, title in (("entity", "entity F1"), ("relation", "relation F1"),
                        ("entity_unlabeled", "entity F1 (label-agnostic)"),
                        ("relation_unlabeled", "relation F1 (label-agnostic)")):
        headline.add_row(title, f"{result[f'{name}_f1']:.3f}", _ci(result, f"{name}_f1"),
                         f"{result[f'{name}_precision']:.3f}", f"{result[f'{name}_recall']:.3f}")
    for name, title in (("rg_e", "RG_E"), ("rg_er", "RG_ER"), ("rg_er_bar", "RG_ER-bar")):
        headline.add_row(title, f"{result[name]:.3f}", _ci(result, name), "", "")
    console.print(headline)
    for key, title in (("per_label", "entity label"), ("per_relation", "relation type")):
        table = Table(title=f"per {title}")
        for column in (title, "F1", "CI", "precision", "recall", "support", "tp", "fp", "fn"):
            table.add_column(column, justify="left" if column == title else "right")
        for bucket, row in result[key].items():
            ci = f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]" if "ci" in row else ""
            table.add_row(bucket, f"{row['f1']:.3f}", ci, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                          *(str(row[c]) for c in ("support", "tp", "fp", "fn")))
        console.print(table)
    for attribute, groups in result["per_group"].items():
        table = Table(title=f"per {attribute}")
        for column in (attribute, "reports", "entity F1", "relation F1", "RG_E", "RG_ER", "RG_ER-bar"):
            table.add_column(column, justify="left" if column == attribute else "right")
        for value, block in groups.items():
            table.add_row(value, str(block["n_reports"]), *(f"{block[n]:.3f}" for n in
                          ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar")))
        console.print(table)
    for key, what in (("missing_predictions", "gold reports had no prediction (scored as empty)"),
                      ("unmatched_predictions", "predictions had no gold report (ignored)")):
        if result[key]:
            console.print(f"note: {len(result[key])} {what}: {', '.join(result[key][:5])}"
                          f"{' ...' if len(result[key]) > 5 else ''}")


@app.command()
def evaluate(
    gold: Path = typer.Option(..., "--gold", help="Gold RadGraph JSON/JSONL."),
    pred: Path = typer.Option(..., "--pred", help="Predicted RadGraph JSON/JSONL."),
    labeler: Optional[str] = LabelerOption,
    pred_labeler: Optional[str] = typer.Option(
        None, "--pred-labeler", help="Labeler of a test file used as predictions (2 vs --labeler 1: the human ceiling)."),
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Score in this label set (default: as the files, or 1.0 when they differ)."),
    samples: int = typer.Option(1000, "--bootstrap", help="Bootstrap samples for the confidence intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Score predictions against gold: entity/relation micro-F1, F1RadGraph, bootstrap CIs."""
    try:
        result = evaluate_documents(read_radgraph(gold, labeler), read_radgraph(pred, pred_labeler),
                                    label_set=labels, samples=samples, seed=seed)
    except InputError as error:
        _fail(error)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_evaluation(result)


@app.command()
def convert(
    source: Path = typer.Argument(..., help="RadGraph JSON/JSONL, or plain reports (.txt, .csv, .jsonl)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .json (RadGraph) or .jsonl (one document per line)."),
    labeler: Optional[str] = LabelerOption,
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Map entity labels into this label set."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Report text column of a .csv/.jsonl."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Report id column of a .csv/.jsonl."),
    modality: Optional[str] = typer.Option(None, "--modality", help="Modality of every report (CXR, CT, MR, US, ...)."),
    sections: Optional[str] = typer.Option(None, "--sections", help="Keep only these sections, e.g. findings,impression."),
) -> None:
    """Read any supported input, validate it, and write RadGraph JSON or JSONL (plain reports come out tokenized)."""
    options = ReportOptions(text_column, id_column, modality, _sections(sections))
    try:
        docs = load_documents(source, labeler, options)
        if labels is not None:
            docs = [doc.with_labels(labels) for doc in docs]
        write_radgraph(docs, output)
    except InputError as error:
        _fail(error)
    typer.echo(f"wrote {len(docs)} documents to {output}", err=True)


@app.command()
def extract(
    source: Path = typer.Argument(..., help="Reports: .txt, .csv, .jsonl, or RadGraph JSON (ids kept, annotations ignored)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the RadGraph JSON (.json or .jsonl)."),
    backend: Optional[str] = typer.Option(None, "--backend", help=f"One of {', '.join(BACKENDS)} (default: vllm if installed, else transformers)."),
    model: Optional[str] = typer.Option(None, "--model", help="Local HF folder, .gguf file, hub-cache id or served model (default: the embedded SmolLM2-135M)."),
    prompt: str = typer.Option("few-shot", "--prompt", help="Prompt name in prompts/ (zero-shot, few-shot, guideline) or a .j2 path."),
    shots: int = typer.Option(3, "--shots", help="Few-shot exemplars per report (0 for none)."),
    examples: Optional[Path] = typer.Option(None, "--examples", help="Gold RadGraph file to draw exemplars from (default: the sample gold set)."),
    exemplars: str = typer.Option("fixed", "--exemplars", help="fixed (seeded draw) or nearest (by word overlap)."),
    labels: LabelSet = typer.Option(LabelSet.RADGRAPH, "--labels", help="Label set the model uses."),
    grammar: GrammarMode = typer.Option(GrammarMode.REPORT, "--grammar", help="report (per-report grammar), json (static schema) or none."),
    batch_size: int = typer.Option(32, "--batch-size", help="Reports per backend call."),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Generation budget per report."),
    max_entities: int = typer.Option(60, "--max-entities", help="Bound of the entity list under --grammar json."),
    temperature: float = typer.Option(0.0, "--temperature"),
    seed: int = typer.Option(0, "--seed"),
    fuzzy: bool = typer.Option(False, "--fuzzy", help="Also ground entity texts by a bounded fuzzy match."),
    url: str = typer.Option("http://127.0.0.1:8000/v1", "--url", help="Server for --backend openai."),
    grammar_backend: str = typer.Option("guidance", "--grammar-backend", help="vLLM structured-output backend: guidance or xgrammar."),
    text_column: Optional[str] = typer.Option(None, "--text-column"),
    id_column: Optional[str] = typer.Option(None, "--id-column"),
    modality: Optional[str] = typer.Option(None, "--modality", help="Modality of every report (CXR, CT, MR, US, ...)."),
    sections: Optional[str] = typer.Option(None, "--sections", help="Keep only these sections, e.g. findings,impression."),
    labeler: Optional[str] = LabelerOption,
    gold: Optional[Path] = typer.Option(None, "--gold", help="Score the output against this gold file when done."),
) -> None:
    """Extract RadGraph graphs from reports with an LLM under grammar-constrained decoding."""
    from llmgraph.extract import ExtractionConfig, Extractor, write_manifest
    from llmgraph.prompting import sample_gold_path

    backend = backend or default_backend()
    options = {"openai": {"base_url": url}, "vllm": {"grammar_backend": grammar_backend}}.get(backend, {})
    config = ExtractionConfig(backend=backend, model=model, prompt=prompt, shots=shots, exemplar_strategy=exemplars,
                              label_set=labels, grammar=grammar, batch_size=batch_size, fuzzy=fuzzy, max_entities=max_entities,
                              decoding=Decoding(temperature, max_tokens, seed), backend_options=options)
    try:
        docs = load_documents(source, labeler or "1",  # input annotations are ignored
                              ReportOptions(text_column, id_column, modality, _sections(sections)))
        pool = read_radgraph(examples or sample_gold_path(), labeler or "1") if shots else []
        extractor = Extractor(config, pool)
        try:
            run = extractor.run(docs)
        finally:
            extractor.close()
        write_radgraph(run.documents, output)
        manifest = extractor.manifest(run, input=str(source), output=str(output))
        write_manifest(output.with_name(output.name + ".manifest.json"), manifest)
    except InputError as error:
        _fail(error)
    counts = run.counts
    typer.echo(f"{counts['reports_ok']}/{counts['reports']} reports extracted to {output} "
               f"({counts['reports_failed']} failed); {counts['entities_kept']} entities kept, "
               f"{counts['entities_generated'] - counts['entities_kept']} dropped; "
               f"{counts['relations_kept']} relations kept, {counts['relations_dropped']} dropped; "
               f"{manifest['reports_per_second'] or 0:.2f} reports/s, "
               f"{manifest['generated_tokens_per_second'] or 0:.1f} generated tokens/s", err=True)
    for doc_id, problem in list(run.errors.items())[:10]:
        typer.echo(f"  report {doc_id}: {problem}", err=True)
    if gold is not None:
        try:
            result = evaluate_documents(read_radgraph(gold, labeler), run.documents)
        except InputError as error:
            _fail(error)
        _print_evaluation(result)


def main() -> None:  # pragma: no cover - console entry for `python -m llmgraph`
    app(prog_name="llmgraph")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

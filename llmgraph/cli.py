"""The ``llmgraph`` command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.table import Table

from llmgraph.backends import BACKENDS, default_backend
from llmgraph.document import Document
from llmgraph.errors import InputError
from llmgraph.formats import read_radgraph, write_radgraph
from llmgraph.grammar import GrammarMode
from llmgraph.inputs import iter_documents, load_documents
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
    backend: Optional[str] = typer.Option(None, "--backend", help=f"One of {', '.join(BACKENDS)} (LLMs; default: vllm if installed, else transformers), span (a model from train-span) or radgraph (the radgraph package)."),
    model: Optional[str] = typer.Option(None, "--model", help="Local HF folder, .gguf file, hub-cache id or served model (default: the embedded SmolLM2-135M); with --backend span the train-span folder, with radgraph one of radgraph, radgraph-xl, modern-radgraph-xl, echograph."),
    prompt: str = typer.Option("few-shot", "--prompt", help="Prompt name in prompts/ (zero-shot, few-shot, guideline) or a .j2 path."),
    shots: int = typer.Option(3, "--shots", help="Few-shot exemplars per report (0 for none)."),
    examples: Optional[Path] = typer.Option(None, "--examples", help="Gold RadGraph file to draw exemplars from (default: the sample gold set)."),
    exemplars: str = typer.Option("fixed", "--exemplars", help="fixed (seeded draw) or nearest (by word overlap)."),
    labels: LabelSet = typer.Option(LabelSet.RADGRAPH, "--labels", help="Label set the model uses."),
    grammar: GrammarMode = typer.Option(GrammarMode.REPORT, "--grammar", help="report (per-report grammar), json (static schema) or none."),
    batch_size: int = typer.Option(32, "--batch-size", help="Reports per backend call."),
    max_tokens: int = typer.Option(1024, "--max-tokens", help="Generation budget per report (one retry at twice it when an answer is cut); a full graph of a 60-word report is about 650 tokens."),
    max_entities: int = typer.Option(60, "--max-entities", help="Bound of the entity list under --grammar json."),
    temperature: float = typer.Option(0.0, "--temperature"),
    seed: int = typer.Option(0, "--seed"),
    fuzzy: bool = typer.Option(False, "--fuzzy", help="Also ground entity texts by a bounded fuzzy match."),
    endpoints: Optional[list[str]] = typer.Option(None, "--endpoint", "--url", help="OpenAI-compatible server for --backend openai (default http://127.0.0.1:8000/v1); repeat it to spread requests over several, with failover."),
    concurrency: int = typer.Option(16, "--concurrency", help="Requests in flight per endpoint (--backend openai)."),
    grammar_backend: str = typer.Option("guidance", "--grammar-backend", help="vLLM structured-output backend: guidance or xgrammar."),
    text_column: Optional[str] = typer.Option(None, "--text-column"),
    id_column: Optional[str] = typer.Option(None, "--id-column"),
    modality: Optional[str] = typer.Option(None, "--modality", help="Modality of every report (CXR, CT, MR, US, ...)."),
    sections: Optional[str] = typer.Option(None, "--sections", help="Keep only these sections, e.g. findings,impression."),
    labeler: Optional[str] = LabelerOption,
    gold: Optional[Path] = typer.Option(None, "--gold", help="Score the output against this gold file when done."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run the reports that failed in an earlier run of this output again."),
    restart: bool = typer.Option(False, "--restart", help="Throw away an earlier partial run of this output and start over."),
    force: bool = typer.Option(False, "--force", help="Write even if the output's lock says another run is writing it."),
    strict: bool = typer.Option(False, "--strict", help="Exit with 1 when any report failed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: only the reports of shard I of N (by a hash of the id; I from 0), for job arrays."),
) -> None:
    """Extract RadGraph graphs from reports with an LLM under grammar-constrained decoding (or a span model).

    Finished reports go to OUTPUT.partial.jsonl as they finish; running the same command again
    after any interruption resumes where it stopped. OUTPUT is written when every report is done.
    """
    from llmgraph.backends.openai import DEFAULT_URL
    from llmgraph.batch import run_batches
    from llmgraph.shards import in_shard, parse_shard
    from llmgraph.extract import write_manifest
    from llmgraph.prompting import sample_gold_path
    from llmgraph.systems import LLMSystem, extraction_config, radgraph_system, span_system

    backend = backend or default_backend()
    started = time.perf_counter()
    try:
        options = ReportOptions(text_column, id_column, modality, _sections(sections))
        index, count = parse_shard(shard) if shard else (0, 1)

        def reports() -> Iterator[Document]:  # the input, read as it is needed (input annotations are ignored)
            return (doc for doc in iter_documents(source, labeler or "1", options) if in_shard(doc.id, index, count))

        if backend == "span":
            if not model:
                raise InputError("--backend span needs --model DIR (a folder written by llmgraph train-span)")
            system = span_system(model, batch_size)
        elif backend == "radgraph":
            system = radgraph_system(model or "radgraph-xl")
        else:
            config = extraction_config({  # the same keys as an experiment file's LLM system
                "backend": backend, "model": model, "prompt": prompt, "shots": shots, "exemplars": exemplars,
                "labels": labels.value, "grammar": grammar.value, "batch_size": batch_size, "fuzzy": fuzzy,
                "max_entities": max_entities, "grammar_backend": grammar_backend,
                "url": endpoints or [DEFAULT_URL], "concurrency": concurrency,
                "decoding": {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}})
            pool = read_radgraph(examples or sample_gold_path(), labeler or "1") if shots else []
            system = LLMSystem(config, pool)
        try:
            summary = run_batches(system.stream, reports, output, system.settings(), retry_failed, force, restart,
                                  quiet, system.tokens)
            manifest = system.manifest()
        finally:
            system.close()
        manifest |= {"input": str(source), "output": str(output), "wall_seconds": time.perf_counter() - started,
                     "reports_in_input": summary.total, "reports_from_earlier_runs": summary.reused,
                     "repaired_partial_bytes": summary.repaired_bytes, "errors": summary.errors}
        write_manifest(output.with_name(output.name + ".manifest.json"), manifest)
    except InputError as error:
        _fail(error)
    _print_run_summary(summary, manifest, output)
    if gold is not None:
        try:
            result = evaluate_documents(read_radgraph(gold, labeler), read_radgraph(output))
        except InputError as error:
            _fail(error)
        _print_evaluation(result)
    if strict and summary.errors:
        raise typer.Exit(1)


def _print_run_summary(summary, manifest: dict, output: Path) -> None:
    counts = manifest["counts"]
    line = (f"{summary.total - len(summary.errors)}/{summary.total} reports extracted to {output} "
            f"({len(summary.errors)} failed")
    line += f"; {summary.reused} from an earlier run)" if summary.reused else ")"
    if counts.get("entities_generated"):
        line += (f"; {counts['entities_kept']} entities kept, {counts['entities_generated'] - counts['entities_kept']} "
                 f"dropped; {counts['relations_kept']} relations kept, {counts['relations_dropped']} dropped")
    if manifest.get("reports_per_second"):
        line += f"; {manifest['reports_per_second']:.2f} reports/s"
    if manifest.get("generated_tokens_per_second"):
        line += f", {manifest['generated_tokens_per_second']:.1f} generated tokens/s"
    typer.echo(line, err=True)
    for doc_id, problem in list(summary.errors.items())[:10]:
        typer.echo(f"  report {doc_id}: {problem}", err=True)
    if len(summary.errors) > 10:
        typer.echo(f"  ... and {len(summary.errors) - 10} more (all in {output}.manifest.json)", err=True)


@app.command()
def viz(
    pred: Path = typer.Argument(..., help="RadGraph JSON/JSONL to show (predictions, or any annotated file)."),
    output: Path = typer.Option(..., "-o", "--output", help="The HTML file to write (self-contained, works offline)."),
    gold: Optional[Path] = typer.Option(None, "--gold", help="Gold RadGraph file: mark correct, missing, spurious and wrong-label entities and relations."),
    labeler: Optional[str] = LabelerOption,
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Show labels in this label set (default: as the files, or 1.0 when they differ)."),
    title: Optional[str] = typer.Option(None, "--title", help="Page title (default: the file names)."),
) -> None:
    """Write one HTML page showing every report with its entities and relations (and the diff against gold)."""
    from llmgraph.viz import write_viewer

    sources = f"{pred} against gold {gold}" if gold else str(pred)
    try:
        predicted = read_radgraph(pred)
        gold_docs = read_radgraph(gold, labeler) if gold else None
        try:
            payload = write_viewer(output, predicted, gold_docs, labels, title or f"llmgraph: {pred.name}", sources)
        except InputError as error:
            raise error.at(pred) from None
    except InputError as error:
        _fail(error)
    unmatched = payload["unmatched"]
    line = f"wrote {output}: {len(payload['reports'])} reports"
    if unmatched["pred_only"]["count"] or unmatched["gold_only"]["count"]:
        line += (f" ({unmatched['pred_only']['count']} predicted reports have no gold, "
                 f"{unmatched['gold_only']['count']} gold reports have no prediction)")
    typer.echo(line, err=True)


@app.command()
def merge(
    shards: list[Path] = typer.Argument(..., help="RadGraph outputs of the shards of one run."),
    output: Path = typer.Option(..., "-o", "--output", help="The joined RadGraph .json or .jsonl."),
) -> None:
    """Join the outputs of `extract --shard I/N` runs into one file (a report in two shards is an error)."""
    from llmgraph.shards import merge as merge_files

    try:
        count = merge_files(shards, output)
    except InputError as error:
        _fail(error)
    typer.echo(f"merged {count} reports from {len(shards)} files into {output}", err=True)


@app.command()
def compare(
    experiment_file: Path = typer.Argument(..., metavar="EXPERIMENT.yaml", help="Gold sets and systems (see eval/*.yaml)."),
    out_dir: Path = typer.Option(..., "-o", "--output", help="Folder for predictions, manifests and tables."),
    rerun: bool = typer.Option(False, "--rerun", help="Run every system again instead of reusing cached predictions."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run cached systems again when some of their reports failed."),
) -> None:
    """Run every system of an experiment over its gold sets; write results.csv/.md, significance, diffs."""
    from llmgraph.compare import Harness
    from llmgraph.experiment import load_experiment
    from llmgraph.results import write_results

    log = lambda message: console.print(message, highlight=False, markup=False)  # noqa: E731
    try:
        experiment = load_experiment(experiment_file)
        comparison = Harness(experiment, out_dir, rerun, retry_failed, log).run()
        frame = write_results(comparison)
    except InputError as error:
        _fail(error)
    _print_comparison(comparison, frame)
    failed = [outcome for outcome in comparison.outcomes if outcome.error]
    for outcome in failed:
        typer.echo(f"llmgraph: system {outcome.system} on {outcome.gold_set} failed: {outcome.error}", err=True)
    typer.echo(f"results in {out_dir}: results.md, results.csv, plots/, viewer/", err=True)
    if failed:
        raise typer.Exit(1)


def _print_comparison(comparison, frame) -> None:
    """Systems x headline metrics (with CIs) and reports/s, one table per gold set."""
    from llmgraph.results import TITLES, cost

    for gold_set, docs in comparison.gold.items():
        table = Table(title=f"{gold_set}: {len(docs)} reports")
        for column in ("system", *TITLES.values(), "reports/s"):
            table.add_column(column, justify="left" if column == "system" else "right")
        for outcome in comparison.outcomes:
            if outcome.gold_set != gold_set or outcome.scores is None:
                continue
            scores = outcome.scores
            cells = [f"{scores[m]:.3f} {_ci(scores, m)}" for m in TITLES]
            speed = cost(outcome)["reports_per_second"]
            table.add_row(outcome.system, *cells, f"{speed:.2f}" if speed else "")
        console.print(table)


@app.command()
def synth(
    count: int = typer.Option(100, "-n", help="Number of reports."),
    output: Path = typer.Option(..., "-o", "--output", help="RadGraph .json or .jsonl (streamed, for large N)."),
    seed: int = typer.Option(0, "--seed"),
    modalities: Optional[str] = typer.Option(None, "--modality", help="Comma-separated subset of the modalities."),
    labels: LabelSet = typer.Option(LabelSet.RADGRAPH, "--labels", help="Label set of the gold annotations."),
) -> None:
    """Synthetic reports with their exact RadGraph gold, for load tests and training demos (not a benchmark)."""
    from llmgraph.synth import MODALITIES, synth_documents

    chosen = tuple(m.strip() for m in modalities.split(",")) if modalities else MODALITIES
    unknown = [m for m in chosen if m not in MODALITIES]
    if unknown:
        _fail(InputError(f"unknown modality {unknown[0]!r} (expected some of {', '.join(MODALITIES)})"))
    docs = (doc.with_labels(labels) for doc in synth_documents(count, seed, chosen))
    write_radgraph(docs, output)
    typer.echo(f"wrote {count} synthetic reports to {output}", err=True)


@app.command("train-span")
def train_span_command(
    train: Path = typer.Option(..., "--train", help="Gold RadGraph file to train on."),
    dev: Path = typer.Option(..., "--dev", help="Gold RadGraph file to pick the best epoch on."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the trained model."),
    encoder: Optional[str] = typer.Option(None, "--encoder", help="Local BERT-like folder (default: all-MiniLM-L6-v2 from its wheel)."),
    epochs: int = typer.Option(10, "--epochs"),
    batch_size: int = typer.Option(16, "--batch-size"),
    learning_rate: float = typer.Option(1e-4, "--lr", help="Encoder learning rate (the heads learn 20x faster)."),
    seed: int = typer.Option(0, "--seed"),
    labeler: Optional[str] = LabelerOption,
) -> None:
    """Fine-tune the span baseline (entities by BIO tagging, relations by a pair classifier) on CPU or GPU."""
    from llmgraph.span import train_span

    try:
        train_docs, dev_docs = read_radgraph(train, labeler), read_radgraph(dev, labeler)
        card = train_span(train_docs, dev_docs, output, encoder=encoder, epochs=epochs, batch_size=batch_size,
                          lr=learning_rate, seed=seed)
    except InputError as error:
        _fail(error)
    best = card["best"]
    typer.echo(f"span model in {output}: best epoch {best['epoch']} of {epochs}, dev entity F1 "
               f"{best['dev_entity_f1']:.3f}, relation F1 {best['dev_relation_f1']:.3f} "
               f"({card['training']['seconds']:.0f} s on {len(train_docs)} reports)", err=True)


def main() -> None:  # pragma: no cover - console entry for `python -m llmgraph`
    app(prog_name="llmgraph")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``llmgraph`` command line: a thin layer over the library.

Each command checks its options and its output path before any work starts, calls the library,
and prints. Every bad input, from any command, ends as one line on stderr (``llmgraph: FILE:
report ID: problem``) and exit code 2: the handler is ``Commands.main``, in one place.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from llmgraph import __version__
from llmgraph.core.defaults import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED
from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.core.settings import setting_fields
from llmgraph.evaluation.rewards import DEFAULT_REWARDS, REWARD_VERSIONS
from llmgraph.evaluation.scoring import evaluate as evaluate_documents
from llmgraph.evaluation.scoring import evaluate_files
from llmgraph.extraction.backends import BACKENDS
from llmgraph.extraction.backends.batch_api import TARGETS as BATCH_TARGETS
from llmgraph.extraction.grammar import GRAMMAR_BACKENDS, GrammarMode
from llmgraph.io.inputs import iter_documents, iter_run_input
from llmgraph.io.outputs import check_output
from llmgraph.io.radgraph_reader import check_labeler_named, read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.reports import ReportOptions
from llmgraph.runs.runlog import manifest_path
from llmgraph.systems.base import SystemContext
from llmgraph.systems.kinds import runnable_kinds, system_kind
from llmgraph.training.llm.config import DTYPES as TRAINING_DTYPES
from llmgraph.training.llm.config import METHODS as TRAINING_METHODS


class _PlainHelp:
    """``--help`` shown as the flag it is (typer would show a ``<bool>`` value)."""

    def get_help_option(self, ctx):  # noqa: ANN001, ANN201
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class Command(_PlainHelp, TyperCommand):
    """One llmgraph command."""


class Commands(_PlainHelp, TyperGroup):
    """llmgraph's commands; whatever goes wrong ends in one line on stderr."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except typer.TyperException as error:  # a bad option: name the command and what is wrong
            if type(error).__name__ == "NoArgsIsHelpError":  # `llmgraph` alone: its help
                typer.echo(error.format_message())
                code = 0
            else:
                where = error.ctx.command_path if getattr(error, "ctx", None) else "llmgraph"
                typer.echo(f"{where}: {error.format_message()} (see {where} --help)", err=True)
                code = error.exit_code
        except InputError as error:
            typer.echo(f"llmgraph: {error}", err=True)
            code = 2
        except OSError as error:  # a file system problem no command foresaw: still one line
            typer.echo(f"llmgraph: {InputError(error.strerror or str(error), error.filename)}", err=True)
            code = 2
        except typer.Abort:
            typer.echo("llmgraph: aborted", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(cls=Commands, add_completion=False, no_args_is_help=True,
                  help="RadGraph graphs from radiology reports with open LLMs, and the harness that measures them.")

INPUT, OUTPUT, SYSTEM, PROMPT, DECODING, SERVER, SCALE, RESUME = (
    "Input", "Output", "System", "LLM prompt", "LLM decoding", "OpenAI-compatible servers", "Scale-out (Ray)",
    "Resume and locks")


# The closed sets of choices come from their registries: a new backend or kind of system is a new choice.
Backend = Enum("Backend", {name.upper(): name for name in BACKENDS}, type=str)  # LLM engines
Rewards = Enum("Rewards", {name.replace("-", "_").replace(".", "_").upper(): name for name in REWARD_VERSIONS},
               type=str)  # F1RadGraph versions
SystemType = Enum("SystemType", {name.upper(): name for name in runnable_kinds()}, type=str)  # kinds of system


class Exemplars(str, Enum):
    FIXED = "fixed"
    NEAREST = "nearest"


GrammarBackend = Enum("GrammarBackend", {name.upper(): name for name in GRAMMAR_BACKENDS}, type=str)


class Engine(str, Enum):
    LOCAL = "local"
    RAY = "ray"


class TxtLayout(str, Enum):
    AUTO = "auto"
    LINES = "lines"
    BLOCKS = "blocks"


class _Stderr(logging.Handler):
    """llmgraph's warnings (and info with --verbose) as ``llmgraph: ...`` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"llmgraph: {record.getMessage()}", err=True)


_HANDLER = _Stderr()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmgraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", metavar="", help="Show progress notes and the engines' (vLLM's) log lines on stderr."),
    version: bool = typer.Option(False, "--version", metavar="", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """RadGraph graphs from radiology reports with open LLMs, and the harness that measures them."""
    logger = logging.getLogger("llmgraph")
    if _HANDLER not in logger.handlers:
        logger.addHandler(_HANDLER)
        logger.propagate = False
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose:
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO")


def _console() -> Console:
    """Rich output on stdout: the terminal's width, or unbounded when piped (no wrapped cells, no cut names)."""
    return Console(highlight=False) if sys.stdout.isatty() else Console(width=100_000, highlight=False)


def _flag(help: str, *names: str, panel: str | None = None) -> Any:
    """An on/off option (shown without a value)."""
    return typer.Option(False, *names, metavar="", help=help, rich_help_panel=panel)


def _labeler_option(panel: str | None = None) -> Any:
    return typer.Option(None, "--labeler", metavar="1|2|both", rich_help_panel=panel,
                        help="For test files with labeler_1/labeler_2 annotations: which labeler's to use.")


def _read_training(path: Path, labeler: Optional[str]) -> list[Document]:
    """Gold reports to train on; ``--labeler 1|2`` names a labeler of a file that has two, never a plain file."""
    docs = read_radgraph(path, labeler)
    if labeler in ("1", "2"):
        check_labeler_named(docs, labeler, path, "--labeler")
    return docs


def _sections(sections: Optional[str]) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in sections.split(",")) if sections is not None else ()


def _report_options(text_column, id_column, modality, sections, txt_layout) -> ReportOptions:  # noqa: ANN001
    return ReportOptions(text_column, id_column, modality, _sections(sections), txt_layout.value)


def _ci(result: dict, name: str) -> str:
    low_high = result["ci"].get(name)
    return f"[{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else ""


def _print_evaluation(result: dict) -> None:
    console = _console()
    headline = Table(title=f"{result['n_reports']} reports, label set {result['label_set']}, "
                           f"{int(result['bootstrap']['confidence'] * 100)}% bootstrap CI, rewards {result['rewards']}")
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
                          f"{' ...' if len(result[key]) > 5 else ''}", markup=False)


@app.command(cls=Command)
def evaluate(
    gold: Path = typer.Option(..., "--gold", metavar="FILE", help="Gold RadGraph JSON/JSONL."),
    pred: Path = typer.Option(..., "--pred", metavar="FILE", help="Predicted RadGraph JSON/JSONL."),
    labeler: Optional[str] = _labeler_option(),
    pred_labeler: Optional[str] = typer.Option(
        None, "--pred-labeler", metavar="1|2", help="Labeler of a test file used as predictions (2 vs --labeler 1: the human ceiling)."),
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Score in this label set (default: as the files, or 1.0 when they differ)."),
    samples: int = typer.Option(BOOTSTRAP_SAMPLES, "--bootstrap", min=0, help="Bootstrap samples for the confidence intervals (0: none)."),
    seed: int = typer.Option(BOOTSTRAP_SEED, "--seed", min=0, max=2**32 - 1, help="Seed of the bootstrap resamples."),
    rewards: Rewards = typer.Option(Rewards(DEFAULT_REWARDS), "--rewards", help="F1RadGraph as scored by the radgraph package on PyPI (0.1.18) or by its repository's main branch (tokens lower-cased at every level)."),
    as_json: bool = _flag("Print one JSON object instead of tables.", "--json"),
) -> None:
    """Score predictions against gold: entity/relation micro-F1, F1RadGraph, bootstrap CIs."""
    result = evaluate_files(gold, pred, labeler, pred_labeler, label_set=labels, samples=samples, seed=seed,
                            rewards=rewards.value)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_evaluation(result)


def _writable_reports(docs: Iterator[Document], skipped: dict[str, str]) -> Iterator[Document]:
    """The documents that can be written; a report a reader could not use (no chosen section ...) is
    left out and recorded in ``skipped``, as ``extract`` fails it alone."""
    for doc in docs:
        if doc.meta.get("problem"):
            skipped[doc.id] = doc.meta["problem"]
        else:
            yield doc


def _print_skipped(skipped: dict[str, str], what: str) -> None:
    for doc_id, problem in list(skipped.items())[:10]:
        typer.echo(f"  report {doc_id}: {problem}", err=True)
    if len(skipped) > 10:
        typer.echo(f"  ... and {len(skipped) - 10} more {what}", err=True)


@app.command(cls=Command)
def convert(
    source: Path = typer.Argument(..., metavar="INPUT", help="RadGraph JSON/JSONL, or plain reports (.txt, .csv, .jsonl)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Output .json (RadGraph) or .jsonl (one document per line)."),
    labeler: Optional[str] = _labeler_option(),
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Map entity labels into this label set."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Report text column of a .csv/.jsonl (default: report, text or report_text)."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Report id column of a .csv/.jsonl (default: id, report_id or study_id; else the row number)."),
    modality: Optional[str] = typer.Option(None, "--modality", help="Modality of every report (CXR, CT, MR, US, ...)."),
    sections: Optional[str] = typer.Option(None, "--sections", help="Keep only these sections, e.g. findings,impression."),
    txt_layout: TxtLayout = typer.Option(TxtLayout.AUTO, "--txt-layout", help="A .txt file holds one report per line, reports separated by blank lines, or either (detected, with a note)."),
) -> None:
    """Read any supported input, validate it, and write RadGraph JSON or JSONL (plain reports come out tokenized)."""
    check_output(output, [source])
    options = _report_options(text_column, id_column, modality, sections, txt_layout)
    skipped: dict[str, str] = {}
    docs = _writable_reports(iter_documents(source, labeler, options, read_ahead=True), skipped)
    count = write_radgraph((doc.with_labels(labels) for doc in docs) if labels is not None else docs, output)
    typer.echo(f"wrote {count} documents to {output}" + (f"; {len(skipped)} reports left out:" if skipped else ""),
               err=True)
    _print_skipped(skipped, "reports left out")


LLM_OPTIONS = ("backend", "prompt", "shots", "examples", "exemplars", "labels", "grammar", "max_tokens", "max_entities",
               "temperature", "seed", "fuzzy", "grammar_backend", "endpoints", "concurrency", "chunk_words")
FLAGS = {"endpoints": "--endpoint"}  # settings whose flag is not --setting-name
DECODING_FLAGS = ("temperature", "max_tokens", "seed")  # the keys of the decoding setting
# Flags whose setting (experiment-file key) has another name; --examples is the exemplar pool of --shots.
FLAG_SETTING = {"endpoints": "url", "examples": "shots", **{key: "decoding" for key in DECODING_FLAGS}}
FLAGS_OF = {"url": "endpoints"}  # experiment-file key -> flag's parameter, where they differ


def _flags(keys: list[str]) -> str:
    return ", ".join(FLAGS.get(key, "--" + key.replace("_", "-")) for key in keys)


def _kind_taking(settings: list[str]) -> str:
    """How messages name the kinds of system that take these settings ("LLM")."""
    takers = [kind.title for name in runnable_kinds() if set(settings) <= set(setting_fields((kind := system_kind(name)).config))]
    return " or ".join(takers) or "other"


def _system_settings(kind: SystemType, model: str | None, batch_size: int | None, given: dict[str, Any]) -> dict[str, Any]:
    """The experiment-file keys of the system the flags describe (flags not given keep the config's
    defaults); options another kind of system takes are an error, not silently dropped."""
    takes = set(setting_fields(system_kind(kind.value).config))
    wrong = [key for key in given if FLAG_SETTING.get(key, key) not in takes]
    if wrong:
        owner = _kind_taking([FLAG_SETTING.get(key, key) for key in wrong])
        raise InputError(f"{_flags(wrong)}: {owner} options, which --type {kind.value} does not take")
    if given.get("shots") == 0 and "examples" in given:
        raise InputError("--examples: exemplars are not used with --shots 0")
    settings: dict[str, Any] = {key: value for key, value in (("model", model), ("batch_size", batch_size))
                                if value is not None}
    for key, value in given.items():
        if key != "examples" and key not in DECODING_FLAGS:
            settings[FLAG_SETTING.get(key, key)] = value.value if isinstance(value, Enum) else value
    decoding = {key: given[key] for key in DECODING_FLAGS if key in given}
    return settings | ({"decoding": decoding} if decoding else {})


def _build_system(kind: SystemType, settings: dict[str, Any], examples: Path | None, labeler: str | None) -> Any:
    """The system ``extract`` runs, from its typed config (``llmgraph.systems.kinds.SYSTEM_KINDS``)."""
    chosen = system_kind(kind.value)
    config = chosen.config_of(settings)
    if wrong := chosen.misplaced(config):
        owner = next(iter(wrong.values()))
        flags = _flags([FLAGS_OF.get(key, key) for key, engine in wrong.items() if engine == owner])
        raise InputError(f"{flags}: options of --backend {owner}, not --backend {chosen.engine(config)}")
    return chosen.build(config, SystemContext(examples_source=examples, examples_labeler=labeler or "1"))


# Options that extract and batch requests share (typer reads the same declaration for both).
OPTION_TEXT_COLUMN = typer.Option(None, "--text-column", help="Report text column of a .csv/.jsonl (default: report, text or report_text).", rich_help_panel=INPUT)
OPTION_ID_COLUMN = typer.Option(None, "--id-column", help="Report id column of a .csv/.jsonl (default: id, report_id or study_id; else the row number).", rich_help_panel=INPUT)
OPTION_MODALITY = typer.Option(None, "--modality", help="Modality of every report (CXR, CT, MR, US, ...).", rich_help_panel=INPUT)
OPTION_SECTIONS = typer.Option(None, "--sections", help="Keep only these sections, e.g. findings,impression.", rich_help_panel=INPUT)
OPTION_TXT_LAYOUT = typer.Option(TxtLayout.AUTO, "--txt-layout", help="A .txt file holds one report per line, reports separated by blank lines, or either (detected, with a note).", rich_help_panel=INPUT)
OPTION_LABELER = _labeler_option(INPUT)
OPTION_PROMPT = typer.Option(None, "--prompt", help="A shipped prompt (zero-shot, few-shot, guideline, finetuned) or the path of a .j2 file (default: few-shot; for a model from train-llm, the prompt it was trained on).", rich_help_panel=PROMPT)
OPTION_SHOTS = typer.Option(None, "--shots", min=0, help="Exemplars per report, 0 for none (default: 3; for a model from train-llm, 0).", rich_help_panel=PROMPT)
OPTION_EXAMPLES = typer.Option(None, "--examples", metavar="FILE", help="Gold RadGraph file to draw exemplars from (default: the sample gold set).", rich_help_panel=PROMPT)
OPTION_EXEMPLARS = typer.Option(None, "--exemplars", help="A fixed seeded draw, or the nearest by word overlap (default: fixed).", rich_help_panel=PROMPT)
OPTION_LABELS = typer.Option(None, "--labels", help="Label set the model uses (default: radgraph; for a model from train-llm, its own).", rich_help_panel=PROMPT)
OPTION_GRAMMAR = typer.Option(None, "--grammar", help="report: a grammar per report; json: the static schema; none: free text (default: report).", rich_help_panel=DECODING)
OPTION_MAX_TOKENS = typer.Option(None, "--max-tokens", min=1, help="Generation budget per report, one retry at twice it when an answer is cut; a full graph of a 60-word report is about 650 tokens (default: 1024).", rich_help_panel=DECODING)
OPTION_MAX_ENTITIES = typer.Option(None, "--max-entities", min=1, help="Bound of the entity list under --grammar json (default: 60).", rich_help_panel=DECODING)
OPTION_CHUNK_WORDS = typer.Option(None, "--chunk-words", min=0, max=1_000_000, help="Reports longer than this many words are extracted in chunks of whole sentences within a section, generated together and merged (default: 30 words, fewer when a graph of 30 would not fit in --max-tokens; 0: whole reports).", rich_help_panel=DECODING)
OPTION_TEMPERATURE = typer.Option(None, "--temperature", min=0.0, help="Sampling temperature, 0 for greedy (default: 0).", rich_help_panel=DECODING)
OPTION_SEED = typer.Option(None, "--seed", min=0, max=2**32 - 1, help="Sampling seed (default: 0).", rich_help_panel=DECODING)
OPTION_FUZZY = typer.Option(None, "--fuzzy", metavar="", help="Also ground entity texts by a bounded fuzzy match.", rich_help_panel=DECODING)
OPTION_GRAMMAR_BACKEND = typer.Option(None, "--grammar-backend", help="vLLM's structured-output backend, of the engine or of the vLLM servers (--backend openai); the grammar's dialect follows it (default: guidance).", rich_help_panel=DECODING)


@app.command(cls=Command)
def extract(
    source: Path = typer.Argument(..., metavar="INPUT", help="Reports: .txt, .csv, .jsonl, .parquet, or RadGraph JSON (ids kept, annotations ignored)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to write the RadGraph JSON (.json or .jsonl).", rich_help_panel=OUTPUT),
    gold: Optional[Path] = typer.Option(None, "--gold", metavar="FILE", help="Score the output against this gold file when done (checked first).", rich_help_panel=OUTPUT),
    strict: bool = _flag("Exit with 1 when any report failed.", "--strict", panel=OUTPUT),
    quiet: bool = _flag("No progress bar.", "--quiet", "-q", panel=OUTPUT),
    text_column: Optional[str] = OPTION_TEXT_COLUMN,
    id_column: Optional[str] = OPTION_ID_COLUMN,
    modality: Optional[str] = OPTION_MODALITY,
    sections: Optional[str] = OPTION_SECTIONS,
    txt_layout: TxtLayout = OPTION_TXT_LAYOUT,
    labeler: Optional[str] = OPTION_LABELER,
    shard: Optional[str] = typer.Option(None, "--shard", metavar="I/N", help="Only the reports of shard I of N (by a hash of the id; I from 0), for job arrays.", rich_help_panel=INPUT),
    kind: SystemType = typer.Option(SystemType.LLM, "--type", help="llm: an LLM, through --backend; span: a model from train-span (--model DIR); radgraph: a model of the radgraph package (--model NAME).", rich_help_panel=SYSTEM),
    backend: Optional[Backend] = typer.Option(None, "--backend", help="The LLM engine: vllm, transformers or openai (a server) (default: vllm if installed, else transformers).", rich_help_panel=SYSTEM),
    model: Optional[str] = typer.Option(None, "--model", help="LLM: a local HF folder (a train-llm folder or LoRA adapter too), .gguf file, hub-cache id or served model (default: the embedded SmolLM2-135M). span: the train-span folder. radgraph: radgraph, radgraph-xl, modern-radgraph-xl or echograph.", rich_help_panel=SYSTEM),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Reports per backend call (default: the backend's: 512 for vLLM on a GPU, 4 x --concurrency x servers for --backend openai, else 32; chunks of long reports count apart).", rich_help_panel=SYSTEM),
    prompt: Optional[str] = OPTION_PROMPT,
    shots: Optional[int] = OPTION_SHOTS,
    examples: Optional[Path] = OPTION_EXAMPLES,
    exemplars: Optional[Exemplars] = OPTION_EXEMPLARS,
    labels: Optional[LabelSet] = OPTION_LABELS,
    grammar: Optional[GrammarMode] = OPTION_GRAMMAR,
    max_tokens: Optional[int] = OPTION_MAX_TOKENS,
    max_entities: Optional[int] = OPTION_MAX_ENTITIES,
    chunk_words: Optional[int] = OPTION_CHUNK_WORDS,
    temperature: Optional[float] = OPTION_TEMPERATURE,
    seed: Optional[int] = OPTION_SEED,
    fuzzy: Optional[bool] = OPTION_FUZZY,
    grammar_backend: Optional[GrammarBackend] = OPTION_GRAMMAR_BACKEND,
    endpoints: Optional[list[str]] = typer.Option(None, "--endpoint", "--url", metavar="URL", help="An OpenAI-compatible server (default http://127.0.0.1:8000/v1); repeat it to spread requests over several, with failover.", rich_help_panel=SERVER),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help="Requests in flight per server (default: 16).", rich_help_panel=SERVER),
    engine: Engine = typer.Option(Engine.LOCAL, "--engine", help="local: this process; ray: replicas of the system on a Ray cluster (Ray Data; pip install 'llmgraph\\[ray]').", rich_help_panel=SCALE),
    replicas: Optional[int] = typer.Option(None, "--replicas", min=1, help="--engine ray: copies of the system (actors), each loading the model once (default: 1).", rich_help_panel=SCALE),
    cpus_per_replica: Optional[float] = typer.Option(None, "--cpus-per-replica", help="--engine ray: CPU cores each replica reserves (default: 1).", rich_help_panel=SCALE),
    gpus_per_replica: Optional[float] = typer.Option(None, "--gpus-per-replica", help="--engine ray: GPUs each replica reserves (default: 0; 1 for a vLLM engine per GPU).", rich_help_panel=SCALE),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", metavar="ADDR", help="--engine ray: the cluster, HOST:PORT, ray://HOST:PORT or auto (default: RAY_ADDRESS, else a local cluster).", rich_help_panel=SCALE),
    retry_failed: bool = _flag("Run the reports that failed in an earlier run of this output again.", "--retry-failed", panel=RESUME),
    restart: bool = _flag("Throw away an earlier partial run of this output and start over.", "--restart", panel=RESUME),
    force: bool = _flag("Write even if the output's lock says another run is writing it.", "--force", panel=RESUME),
) -> None:
    """Extract RadGraph graphs from reports with an LLM under grammar-constrained decoding (or a span model).

    Finished reports go to OUTPUT.partial.jsonl as they finish; running the same command again after any interruption resumes where it stopped (a report whose text changed runs again). OUTPUT is written when every report is done.
    """
    from llmgraph.runs.runner import run_extraction
    from llmgraph.runs.shards import in_shard, parse_shard

    given = {key: value for key, value in locals().items() if key in LLM_OPTIONS and value is not None}
    settings = _system_settings(kind, model, batch_size, given)
    check_output(output, [source, gold, examples])
    options = _report_options(text_column, id_column, modality, sections, txt_layout)
    index, count = parse_shard(shard) if shard else (0, 1)
    gold_docs = read_radgraph(gold, labeler) if gold is not None else None  # a bad gold file fails before the run

    def reports() -> Iterator[Document]:  # the input, read as it is needed (input annotations are ignored)
        return (doc for doc in iter_run_input(source, labeler or "1", options) if in_shard(doc.id, index, count))

    ray_options = _ray_options(engine, replicas, cpus_per_replica, gpus_per_replica, ray_address)
    system = _build_system(kind, settings, examples, labeler)
    if ray_options is not None:
        from llmgraph.runs.ray_engine import RaySystem

        system = RaySystem(kind.value, settings, system, ray_options, str(examples) if examples else None,
                           labeler or "1")
    try:
        summary, manifest = run_extraction(system, reports, output, source, shard=shard, quiet=quiet,
                                           resume={"retry_failed": retry_failed, "force": force, "restart": restart})
    except KeyboardInterrupt:
        typer.echo(f"llmgraph: interrupted; finished reports are kept in {output}.partial.jsonl: run the same "
                   "command again to resume", err=True)
        raise typer.Exit(130) from None
    _print_run_summary(summary, manifest, output)
    if gold_docs is not None:
        try:
            _print_evaluation(evaluate_documents(gold_docs, read_radgraph(output)))
        except InputError as error:
            raise error.at(output) from None
    if strict and summary.errors:
        raise typer.Exit(1)


def _ray_options(engine: Engine, replicas: int | None, cpus: float | None, gpus: float | None,
                 address: str | None) -> Any:
    """The Ray engine's options (None for a local run, which takes none of them)."""
    given = {"--replicas": replicas, "--cpus-per-replica": cpus, "--gpus-per-replica": gpus, "--ray-address": address}
    if engine is Engine.LOCAL:
        if wrong := [flag for flag, value in given.items() if value is not None]:
            raise InputError(f"{', '.join(wrong)}: options of --engine ray")
        return None
    try:
        import ray  # noqa: F401
    except ImportError:
        raise InputError("--engine ray needs Ray Data: pip install 'llmgraph[ray]'") from None
    from llmgraph.runs.ray_engine import RayOptions

    chosen = {"replicas": replicas, "cpus_per_replica": cpus, "gpus_per_replica": gpus, "address": address}
    return RayOptions(**{key: value for key, value in chosen.items() if value is not None})  # else its defaults


def _print_run_summary(summary, manifest: dict, output: Path) -> None:  # noqa: ANN001
    counts = manifest["counts"]
    line = f"{summary.written}/{summary.total} reports extracted to {output} ({len(summary.errors)} failed"
    line += f"; {summary.reused} from an earlier run)" if summary.reused else ")"
    if counts.get("entities_generated"):
        line += (f"; {counts['entities_kept']} entities kept, {counts['entities_generated'] - counts['entities_kept']} "
                 f"dropped; {counts['relations_kept']} relations kept, {counts['relations_dropped']} dropped")
    if manifest.get("reports_per_second"):
        line += f"; {manifest['reports_per_second']:.2f} reports/s"
    if manifest.get("generated_tokens_per_second"):
        line += f", {manifest['generated_tokens_per_second']:.1f} generated tokens/s"
    typer.echo(line, err=True)
    if summary.changed:
        typer.echo(f"  {len(summary.changed)} reports changed since the earlier run and ran again: "
                   f"{', '.join(summary.changed[:5])}{' ...' if len(summary.changed) > 5 else ''}", err=True)
    if summary.unreadable_lines:
        lines = ", ".join(map(str, summary.unreadable_lines[:10]))
        typer.echo(f"  {output}.partial.jsonl: skipped {len(summary.unreadable_lines)} unreadable line(s) "
                   f"(line {lines}); their reports ran again", err=True)
    _print_skipped(summary.errors, f"(all in {output}.manifest.json)")


batch_app = typer.Typer(cls=Commands, no_args_is_help=True,
                        help="Extraction through OpenAI Batch files: vllm run-batch, or a hosted batch API.")
app.add_typer(batch_app, name="batch")
BatchTarget = Enum("BatchTarget", {name.upper(): name for name in BATCH_TARGETS}, type=str)


@batch_app.command("requests", cls=Command)
def batch_requests(
    source: Path = typer.Argument(..., metavar="INPUT", help="Reports: .txt, .csv, .jsonl, .parquet, or RadGraph JSON."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to write the requests (.jsonl); its manifest goes next to it.", rich_help_panel=OUTPUT),
    target: BatchTarget = typer.Option(BatchTarget.VLLM, "--target", help="vllm: vllm run-batch or a vLLM server (the per-report grammar goes in each request); openai: a hosted batch API (--grammar json, as response_format).", rich_help_panel=SYSTEM),
    model: Optional[str] = typer.Option(None, "--model", help="The model: a local folder (written into the requests as its path, which vllm run-batch --model DIR serves), or the hosted model's name (default: the embedded SmolLM2-135M).", rich_help_panel=SYSTEM),
    served_model: Optional[str] = typer.Option(None, "--served-model", help="The model name the requests carry, if not --model's (vllm run-batch --served-model-name, a LoRA module's name).", rich_help_panel=SYSTEM),
    text_column: Optional[str] = OPTION_TEXT_COLUMN,
    id_column: Optional[str] = OPTION_ID_COLUMN,
    modality: Optional[str] = OPTION_MODALITY,
    sections: Optional[str] = OPTION_SECTIONS,
    txt_layout: TxtLayout = OPTION_TXT_LAYOUT,
    labeler: Optional[str] = OPTION_LABELER,
    prompt: Optional[str] = OPTION_PROMPT,
    shots: Optional[int] = OPTION_SHOTS,
    examples: Optional[Path] = OPTION_EXAMPLES,
    exemplars: Optional[Exemplars] = OPTION_EXEMPLARS,
    labels: Optional[LabelSet] = OPTION_LABELS,
    grammar: Optional[GrammarMode] = OPTION_GRAMMAR,
    max_tokens: Optional[int] = OPTION_MAX_TOKENS,
    max_entities: Optional[int] = OPTION_MAX_ENTITIES,
    chunk_words: Optional[int] = OPTION_CHUNK_WORDS,
    temperature: Optional[float] = OPTION_TEMPERATURE,
    seed: Optional[int] = OPTION_SEED,
    fuzzy: Optional[bool] = OPTION_FUZZY,
    grammar_backend: Optional[GrammarBackend] = OPTION_GRAMMAR_BACKEND,
    force: bool = _flag("Replace an existing requests file and its manifest.", "--force", panel=OUTPUT),
) -> None:
    """Write one OpenAI Batch request per report (per chunk of a long report; custom_id: the report id, or ID#N).

    Run the file with vllm run-batch (or a hosted batch API), then turn its results into graphs with llmgraph batch results. Answers cut off at --max-tokens are not retried: give a budget that fits.
    """
    from llmgraph.runs.batch_api import write_requests

    given = {key: value for key, value in locals().items() if key in LLM_OPTIONS and value is not None}
    settings = {"model": model} | _system_settings(SystemType.LLM, model, None, given)
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
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to write the RadGraph JSON (.json or .jsonl).", rich_help_panel=OUTPUT),
    source: Optional[Path] = typer.Option(None, "--input", metavar="FILE", help="The reports, if no longer where the manifest says (checked by SHA-256).", rich_help_panel=INPUT),
    gold: Optional[Path] = typer.Option(None, "--gold", metavar="FILE", help="Score the output against this gold file when done.", rich_help_panel=OUTPUT),
    strict: bool = _flag("Exit with 1 when any report failed.", "--strict", panel=OUTPUT),
    quiet: bool = _flag("No progress bar.", "--quiet", "-q", panel=OUTPUT),
    retry_failed: bool = _flag("Ground the reports that failed in an earlier run of this output again (e.g. with a results file of re-submitted requests).", "--retry-failed", panel=RESUME),
    restart: bool = _flag("Throw away an earlier partial run of this output and start over.", "--restart", panel=RESUME),
    force: bool = _flag("Write even if the output's lock says another run is writing it.", "--force", panel=RESUME),
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
        try:
            _print_evaluation(evaluate_documents(gold_docs, read_radgraph(output)))
        except InputError as error:
            raise error.at(output) from None
    if strict and summary.errors:
        raise typer.Exit(1)


@app.command(cls=Command)
def viz(
    pred: Path = typer.Argument(..., metavar="PRED", help="RadGraph JSON/JSONL to show (predictions, or any annotated file)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="The HTML file to write (self-contained, works offline)."),
    gold: Optional[Path] = typer.Option(None, "--gold", metavar="FILE", help="Gold RadGraph file: mark correct, missing, spurious and wrong-label entities and relations."),
    labeler: Optional[str] = _labeler_option(),
    pred_labeler: Optional[str] = typer.Option(None, "--pred-labeler", metavar="1|2", help="Labeler of a test file shown as the predictions (e.g. 2, against --gold with --labeler 1)."),
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Show labels in this label set (default: as the files, or 1.0 when they differ)."),
    title: Optional[str] = typer.Option(None, "--title", help="Page title (default: the file names)."),
) -> None:
    """Write one HTML page showing every report with its entities and relations (and the diff against gold)."""
    from llmgraph.viz import write_viewer

    check_output(output, [pred, gold], suffixes=(".html", ".htm"))
    sources = f"{pred} against gold {gold}" if gold else str(pred)
    predicted = read_radgraph(pred, pred_labeler)
    gold_docs = read_radgraph(gold, labeler) if gold else None
    try:
        payload = write_viewer(output, predicted, gold_docs, labels, title or f"llmgraph: {pred.name}", sources)
    except InputError as error:
        raise error.at(pred) from None
    unmatched = payload["unmatched"]
    line = f"wrote {output}: {len(payload['reports'])} reports"
    if unmatched["pred_only"]["count"] or unmatched["gold_only"]["count"]:
        line += (f" ({unmatched['pred_only']['count']} predicted reports have no gold, "
                 f"{unmatched['gold_only']['count']} gold reports have no prediction)")
    typer.echo(line, err=True)


@app.command(cls=Command)
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


@app.command(cls=Command)
def compare(
    experiment_file: Path = typer.Argument(..., metavar="EXPERIMENT.yaml", help="Gold sets and systems (see eval/*.yaml)."),
    out_dir: Path = typer.Option(..., "-o", "--output", metavar="DIR", help="Folder for predictions, manifests and tables."),
    rerun: bool = _flag("Run every system again instead of reusing cached predictions.", "--rerun"),
    retry_failed: bool = _flag("Run cached systems again when some of their reports failed.", "--retry-failed"),
) -> None:
    """Run every system of an experiment over its gold sets; write results.csv/.md, significance, diffs, viewers, plots."""
    from llmgraph.harness.compare import compare as run_comparison
    from llmgraph.harness.results import results_frame

    console = _console()
    log = lambda message: console.print(message, highlight=False, markup=False)  # noqa: E731
    try:
        comparison = run_comparison(experiment_file, out_dir, rerun, retry_failed, log)
    except KeyboardInterrupt:
        typer.echo(f"llmgraph: interrupted; finished systems are kept in {out_dir}: run the same command again "
                   "to continue", err=True)
        raise typer.Exit(130) from None
    frame = results_frame(comparison)
    _print_comparison(comparison)
    failed = [outcome for outcome in comparison.outcomes if outcome.error]
    for outcome in failed:
        typer.echo(f"llmgraph: system {outcome.system} on {outcome.gold_set} failed: {outcome.error}", err=True)
    typer.echo(f"results in {out_dir}: results.md, results.csv, plots/, viewer/ ({len(frame)} result rows)", err=True)
    if failed:
        raise typer.Exit(1)


def _print_comparison(comparison) -> None:  # noqa: ANN001
    """Systems x headline metrics (with CIs) and reports/s, one table per gold set."""
    from llmgraph.harness.results import TITLES, cost

    console = _console()
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


@app.command(cls=Command)
def synth(
    count: int = typer.Option(100, "-n", min=1, help="Number of reports."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="RadGraph .json or .jsonl (streamed, for large N)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Seed of the template draws: the same seed gives the same reports."),
    modalities: Optional[str] = typer.Option(None, "--modality", help="Comma-separated subset of the modalities."),
    labels: LabelSet = typer.Option(LabelSet.RADGRAPH, "--labels", help="Label set of the gold annotations."),
) -> None:
    """Synthetic reports with their exact RadGraph gold, for load tests and training demos (not a benchmark)."""
    from llmgraph.io.synth import MODALITIES, synth_documents

    check_output(output)
    chosen = tuple(m.strip() for m in modalities.split(",")) if modalities is not None else MODALITIES
    unknown = [m for m in chosen if m not in MODALITIES]
    if unknown:
        raise InputError(f"--modality: unknown modality {unknown[0]!r} (expected some of {', '.join(MODALITIES)})")
    written = write_radgraph((doc.with_labels(labels) for doc in synth_documents(count, seed, chosen)), output)
    typer.echo(f"wrote {written} synthetic reports to {output}", err=True)


def _positive(value: float) -> float:
    if value <= 0:
        raise typer.BadParameter(f"{value} is not above 0")
    return value


@app.command("train-span", cls=Command)
def train_span_command(
    train: Path = typer.Option(..., "--train", metavar="FILE", help="Gold RadGraph file to train on."),
    dev: Optional[Path] = typer.Option(None, "--dev", metavar="FILE", help="Gold RadGraph file to pick the best epoch on (without one, the last epoch is kept)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="DIR", help="Folder for the trained model."),
    encoder: Optional[str] = typer.Option(None, "--encoder", metavar="DIR", help="Local BERT-like folder (default: all-MiniLM-L6-v2 from its wheel)."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Passes over the training reports."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Reports per optimizer step."),
    learning_rate: float = typer.Option(1e-4, "--lr", callback=_positive, help="Encoder learning rate (the heads learn 20x faster)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Seed of the initialisation and the report order."),
    labeler: Optional[str] = _labeler_option(),
) -> None:
    """Fine-tune the span baseline (entities by BIO tagging, relations by a pair classifier) on CPU or GPU."""
    from llmgraph.io.outputs import check_model_output
    from llmgraph.training.span.predict import CARD as SPAN_CARD
    from llmgraph.training.span.train import train_span

    check_output(output, [train, dev], folder=True)
    check_model_output(output, SPAN_CARD, [("training file", train), ("dev file", dev), ("encoder", encoder)])
    train_docs = _read_training(train, labeler)
    dev_docs = _read_training(dev, labeler) if dev is not None else None
    card = train_span(train_docs, dev_docs, output, encoder=encoder, epochs=epochs, batch_size=batch_size,
                      lr=learning_rate, seed=seed)
    best = card["best"]
    scores = (f"best epoch {best['epoch']} of {epochs}, dev entity F1 {best['dev_entity_f1']:.3f}, relation F1 "
              f"{best['dev_relation_f1']:.3f}" if "dev_entity_f1" in best else
              f"last epoch {best['epoch']} of {epochs} (no dev set)")
    typer.echo(f"span model in {output}: {scores} ({card['training']['seconds']:.0f} s on {len(train_docs)} reports)",
               err=True)


Method = Enum("Method", {name.upper(): name for name in TRAINING_METHODS}, type=str)  # train-llm --method
Dtype = Enum("Dtype", {name.upper(): name for name in TRAINING_DTYPES}, type=str)  # train-llm --dtype


@app.command("train-llm", cls=Command)
def train_llm_command(
    train: Path = typer.Option(..., "--train", metavar="FILE", help="Gold RadGraph file to train on."),
    dev: Optional[Path] = typer.Option(None, "--dev", metavar="FILE", help="Gold RadGraph file: dev loss per epoch picks the epoch kept, and its first --dev-reports reports are extracted at the end for F1 (without one, the last epoch is kept)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="DIR", help="Folder for the trained model (vLLM and transformers load it as it is)."),
    model: Optional[str] = typer.Option(None, "--model", help="Base model: a local HF folder, .gguf file or hub-cache id (default: the embedded SmolLM2-135M)."),
    method: Method = typer.Option(Method.FULL, "--method", help="full: train every weight (small models); lora: low-rank adapters with peft (big models)."),
    lora_rank: int = typer.Option(16, "--lora-rank", min=1, max=1024, help="Rank of the LoRA adapters (alpha is twice it)."),
    epochs: int = typer.Option(3, "--epochs", min=1, max=1000, help="Passes over the training reports."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", callback=lambda v: v if v is None else _positive(v), help="Peak learning rate after a linear warm-up over 10% of the steps, then linear decay (default: 3e-4 full, 2e-4 lora)."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, max=4096, help="Examples per forward pass (batches of similar length)."),
    gradient_accumulation: int = typer.Option(1, "--grad-accum", min=1, max=4096, help="Forward passes per optimizer step."),
    max_length: int = typer.Option(2048, "--max-length", min=16, max=1_000_000, help="Longest example in tokens (prompt and answer); longer ones are skipped and counted, never truncated."),
    chunk_words: Optional[int] = typer.Option(None, "--chunk-words", min=0, max=1_000_000, help="Reports longer than this many words train as the chunks extraction splits them into (default: extraction's default, 30 words; 0: whole reports)."),
    prompt: str = typer.Option("finetuned", "--prompt", help="The prompt trained on and recorded as the model's default: a shipped prompt or a .j2 path."),
    labels: LabelSet = typer.Option(LabelSet.RADGRAPH, "--labels", help="Label set the model learns to write."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Seed of the initialisation and the example order."),
    dtype: Dtype = typer.Option(Dtype.AUTO, "--dtype", help="Compute dtype: auto is bf16 autocast on GPUs and on CPUs with AVX-512 BF16/AMX, else float32."),
    gradient_checkpointing: bool = _flag("Recompute activations in the backward pass: less memory, ~30% slower.", "--gradient-checkpointing"),
    no_merge: bool = _flag("LoRA: keep the PEFT adapter instead of merging it into the base weights.", "--no-merge"),
    dev_reports: int = typer.Option(32, "--dev-reports", min=0, max=1_000_000, help="Dev reports extracted with the trained model at the end for entity/relation F1 (0: none)."),
    force: bool = _flag("Replace the output folder if it exists (only once the new model is complete).", "--force"),
    quiet: bool = _flag("No progress bar.", "--quiet", "-q"),
    labeler: Optional[str] = _labeler_option(),
) -> None:
    """Fine-tune an LLM on gold graphs: the prompt it reads and the answer it learns are exactly what extraction sends and parses."""
    from llmgraph.core.fingerprints import file_sha256
    from llmgraph.training.llm.checks import check_output_folder
    from llmgraph.training.llm.config import LLMTrainingConfig
    from llmgraph.training.llm.train import train_llm

    if no_merge and method is Method.FULL:
        raise InputError("--no-merge: only --method lora has an adapter to keep")
    config = LLMTrainingConfig(model=model, method=method.value, lora_rank=lora_rank, epochs=epochs,
                               learning_rate=learning_rate, batch_size=batch_size,
                               gradient_accumulation=gradient_accumulation, max_length=max_length, prompt=prompt,
                               labels=labels, seed=seed, dtype=dtype.value, gradient_checkpointing=gradient_checkpointing,
                               merge=not no_merge, dev_reports=dev_reports, chunk_words=chunk_words)
    check_output_folder(output, force, config, {"train_file": train, "dev_file": dev})
    check_output(output, [train, dev], folder=True)
    train_docs = _read_training(train, labeler)
    dev_docs = _read_training(dev, labeler) if dev is not None else None
    data = {"train_file": str(train), "train_sha256": file_sha256(train),
            **({"dev_file": str(dev), "dev_sha256": file_sha256(dev)} if dev is not None else {})}
    card = train_llm(train_docs, dev_docs, output, config, force=force, progress=not quiet, data=data)
    best = card["best"]
    summary = [f"epoch {best['epoch']} of {epochs} kept" + (f" (dev loss {best['dev_loss']:.3f})" if "dev_loss" in best else
                                                             " (no dev set)")]
    if "dev_extraction" in card:
        scores = card["dev_extraction"]
        summary.append(f"dev entity F1 {scores['entity_f1']:.3f}, relation F1 {scores['relation_f1']:.3f} on "
                       f"{scores['reports']} reports")
    skipped = sum(value for key, value in card["data"]["train"].items() if key.startswith("skipped"))
    if skipped:
        summary.append(f"{skipped} training reports skipped (see {output}/llm_model.json)")
    compute = card["compute"]
    typer.echo(f"LLM in {output}: {'; '.join(summary)}; {card['seconds']:.0f} s, "
               f"{compute['training_tokens_per_second']:.0f} training tokens/s", err=True)


def main() -> None:  # pragma: no cover - console entry for `python -m llmgraph`
    app(prog_name="llmgraph")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The choices and option declarations commands share: enums built from the registries, the help
panels, and the ``OPTION_*`` declarations that extract and batch requests both take.
"""

from __future__ import annotations

from enum import Enum

import typer

from llmgraph.cli.base import _labeler_option
from llmgraph.evaluation.rewards import REWARD_VERSIONS
from llmgraph.extraction.backends import BACKENDS
from llmgraph.extraction.backends.batch_api import TARGETS as BATCH_TARGETS
from llmgraph.extraction.grammar import GRAMMAR_BACKENDS
from llmgraph.review.export import WRITERS as REVIEW_WRITERS
from llmgraph.review.select import SELECTORS
from llmgraph.systems.kinds import runnable_kinds
from llmgraph.training.llm.config import DTYPES as TRAINING_DTYPES
from llmgraph.training.llm.config import METHODS as TRAINING_METHODS

INPUT, OUTPUT, SYSTEM, PROMPT, DECODING, SERVER, SCALE, RESUME = (
    "Input", "Output", "System", "LLM prompt", "LLM decoding", "OpenAI-compatible servers", "Scale-out (Ray)",
    "Resume and locks")


# The closed sets of choices come from their registries: a new backend or kind of system is a new choice.
Backend = Enum("Backend", {name.upper(): name for name in BACKENDS}, type=str)  # LLM engines
Rewards = Enum("Rewards", {name.replace("-", "_").replace(".", "_").upper(): name for name in REWARD_VERSIONS},
               type=str)  # F1RadGraph versions
SystemType = Enum("SystemType", {name.upper(): name for name in runnable_kinds()}, type=str)  # kinds of system
GrammarBackend = Enum("GrammarBackend", {name.upper(): name for name in GRAMMAR_BACKENDS}, type=str)
BatchTarget = Enum("BatchTarget", {name.upper(): name for name in BATCH_TARGETS}, type=str)  # batch requests --target
Method = Enum("Method", {name.upper(): name for name in TRAINING_METHODS}, type=str)  # train-llm --method
Dtype = Enum("Dtype", {name.upper(): name for name in TRAINING_DTYPES}, type=str)  # train-llm --dtype
ReviewTool = Enum("ReviewTool", {name.replace("-", "_").upper(): name for name in REVIEW_WRITERS}, type=str)  # --to
ReviewSelect = Enum("ReviewSelect", {name.replace("-", "_").upper(): name for name in SELECTORS}, type=str)  # --select


class Exemplars(str, Enum):
    FIXED = "fixed"
    NEAREST = "nearest"


class Engine(str, Enum):
    LOCAL = "local"
    RAY = "ray"


class TxtLayout(str, Enum):
    AUTO = "auto"
    LINES = "lines"
    BLOCKS = "blocks"


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
OPTION_GRAMMAR = typer.Option(None, "--grammar", help="report: a grammar per report, entities in report order; report-near: the same, each entity within 16 tokens of the previous one; report-any: the report's spans in any order; json: the static schema; none: free text (default: report-near, chosen by measurement: README).", rich_help_panel=DECODING)
OPTION_MAX_TOKENS = typer.Option(None, "--max-tokens", min=1, help="Generation budget per report, one retry at twice it when an answer is cut; a full graph of a 60-word report is about 650 tokens (default: 1024).", rich_help_panel=DECODING)
OPTION_MAX_ENTITIES = typer.Option(None, "--max-entities", min=1, help="Bound of the entity list under --grammar json (default: 60).", rich_help_panel=DECODING)
OPTION_CHUNK_WORDS = typer.Option(None, "--chunk-words", min=0, max=1_000_000, help="Reports longer than this many words are extracted in chunks of whole sentences within a section, generated together and merged (default: 30 words, fewer when a graph of 30 would not fit in --max-tokens; 0: whole reports).", rich_help_panel=DECODING)
OPTION_TEMPERATURE = typer.Option(None, "--temperature", min=0.0, help="Sampling temperature, 0 for greedy (default: 0).", rich_help_panel=DECODING)
class Confidence(str, Enum):
    ALLOWED = "allowed"
    RAW = "raw"
    NONE = "none"


OPTION_CONFIDENCE = typer.Option(None, "--confidence", help="Which token log-probabilities score each entity and relation (the score key of the output): allowed (renormalised over the tokens the grammar allowed), raw (the model's own before the grammar; transformers and the vLLM engine, not servers) or none (default: allowed).", rich_help_panel=DECODING)
OPTION_SEED = typer.Option(None, "--seed", min=0, max=2**32 - 1, help="Sampling seed (default: 0).", rich_help_panel=DECODING)
OPTION_FUZZY = typer.Option(None, "--fuzzy", metavar="", help="Also ground entity texts by a bounded fuzzy match.", rich_help_panel=DECODING)
OPTION_GRAMMAR_BACKEND = typer.Option(None, "--grammar-backend", help="vLLM's structured-output backend, of the engine or of the vLLM servers (--backend openai); the grammar's dialect follows it (default: guidance).", rich_help_panel=DECODING)

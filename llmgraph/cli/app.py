"""The ``llmgraph`` command line: a thin layer over the library.

This module is the root: the ``app`` (the console script ``llmgraph``), its --verbose and --version,
and the registration of every command, in the order ``llmgraph --help`` lists them. Each command
lives in its own module; it checks its options and its output path before any work starts, calls the
library, and prints. Every bad input, from any command, ends as one line on stderr and exit code 2
(``Commands.main`` in ``llmgraph.cli.base``).
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from llmgraph import __version__
from llmgraph.cli.base import _HANDLER, Command, Commands
from llmgraph.cli.batch import batch_app
from llmgraph.cli.compare import compare
from llmgraph.cli.data import convert, synth
from llmgraph.cli.evaluate import evaluate
from llmgraph.cli.extract import extract, merge
from llmgraph.cli.review import agreement, review_app
from llmgraph.cli.train import train_llm_command, train_span_command
from llmgraph.cli.viz import viz

app = typer.Typer(cls=Commands, add_completion=False, no_args_is_help=True,
                  help="RadGraph graphs from radiology reports with open LLMs, and the harness that measures them.")


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


app.command(cls=Command)(evaluate)
app.command(cls=Command)(convert)
app.command(cls=Command)(extract)
app.add_typer(batch_app, name="batch")
app.command(cls=Command)(viz)
app.command(cls=Command)(merge)
app.command(cls=Command)(compare)
app.command(cls=Command)(synth)
app.command("train-span", cls=Command)(train_span_command)
app.command("train-llm", cls=Command)(train_llm_command)
app.add_typer(review_app, name="review")
app.command(cls=Command)(agreement)


def main() -> None:  # pragma: no cover - console entry for `python -m llmgraph`
    app(prog_name="llmgraph")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

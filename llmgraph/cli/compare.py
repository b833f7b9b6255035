"""``llmgraph compare``: run every system of an experiment over its gold sets and print the comparison."""

from __future__ import annotations

from pathlib import Path

import typer

from llmgraph.cli.base import _flag
from llmgraph.cli.render import _console, _print_comparison


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

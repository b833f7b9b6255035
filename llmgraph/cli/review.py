"""``llmgraph review``: export the reports worth reviewing to Label Studio or brat, and import the
corrected graphs as gold; ``llmgraph agreement``: how far two annotators agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from llmgraph.cli.base import Command, Commands, _flag
from llmgraph.cli.options import ReviewSelect, ReviewTool
from llmgraph.cli.render import _print_evaluation
from llmgraph.core.errors import InputError
from llmgraph.evaluation.scoring import evaluate_files
from llmgraph.io.atomic import write_json
from llmgraph.io.outputs import check_output
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.review.export import export_review
from llmgraph.review.importing import import_review
from llmgraph.review.select import DEFAULT_SELECTION, Selection
from llmgraph.runs.runlog import manifest_path

review_app = typer.Typer(cls=Commands, no_args_is_help=True,
                         help="Review graphs in Label Studio or brat: export the reports worth a look, import the corrections as gold.")


@review_app.command("export", cls=Command)
def review_export(
    pred: Path = typer.Argument(..., metavar="PRED", help="A system's graphs (RadGraph JSON/JSONL, as extract writes them)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="DIR", help="A new folder for the tasks (or brat files) and review.json."),
    to: ReviewTool = typer.Option(..., "--to", help="label-studio: tasks.json with the graphs as predictions, and labeling_config.xml; brat: a .txt and .ann per report, and annotation.conf."),
    how: ReviewSelect = typer.Option(ReviewSelect(DEFAULT_SELECTION), "--select", help="expected-errors: the reports whose scores say they hold the most wrong predictions (the sum of 1 - score; long reports come first); lowest-score: the reports of lowest mean confidence; disagreement: those PRED and --against agree on least (F1 of one against the other); random: a seeded draw."),
    count: Optional[int] = typer.Option(None, "-n", min=1, help="How many reports (default: all, in review order)."),
    against: Optional[Path] = typer.Option(None, "--against", metavar="FILE", help="Another system's graphs of the same reports, for --select disagreement."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Seed of --select random."),
    system: Optional[str] = typer.Option(None, "--system", help="The system's name, shown in Label Studio as the predictions' model_version (default: PRED's file name)."),
    labeler: Optional[str] = typer.Option(None, "--labeler", metavar="1|2", help="For a file with labeler_1/labeler_2 graphs: which labeler's to review."),
) -> None:
    """Choose reports to review and write them for Label Studio or brat, the system's graphs as pre-annotations."""
    check_output(output, [pred, against], folder=True)
    if against is not None and how.value != "disagreement":
        raise InputError("--against is read by --select disagreement only")
    docs = read_radgraph(pred, labeler)
    other = read_radgraph(against, labeler) if against is not None else None
    selection = Selection(how.value, count or len(docs), other, seed)
    try:
        manifest = export_review(docs, output, to.value, selection, system or pred.stem,
                                 {"predictions": str(pred), "against": str(against) if against else None})
    except InputError as error:
        raise error.at(path=pred) from None
    typer.echo(f"wrote {manifest['count']} of {manifest['of']} reports ({how.value}) for {to.value} to {output}; "
               f"why each was picked: {output / 'review.json'}", err=True)


@review_app.command("import", cls=Command)
def review_import(
    export: Path = typer.Argument(..., metavar="EXPORT", help="A Label Studio JSON export (a file), or the brat folder review export wrote, as the reviewers left it."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="The reviewed gold (.json or .jsonl); its manifest goes next to it."),
    labeler: Optional[str] = typer.Option(None, "--labeler", metavar="NAME", help="Label Studio: only this annotator's annotations (user id or email)."),
    every: bool = _flag("Label Studio: keep every annotator's latest annotation, as labeler_1 and labeler_2 (at most two annotators).", "--all"),
) -> None:
    """Read corrected graphs from Label Studio or brat as RadGraph JSON: the report's own tokens, regions snapped to them."""
    check_output(output, [export])
    imported = import_review(export, labeler, every)
    count = write_radgraph(imported.docs, output)
    counts = dict(sorted(imported.counts.items()))
    write_json(manifest_path(output), {"source": str(export), "labeler": labeler, "all": every,
                                       "annotators": imported.annotators, "counts": counts})
    noted = ", ".join(f"{key}: {value}" for key, value in counts.items() if key != "reports imported" and value)
    typer.echo(f"wrote {count} reviewed graphs to {output}" + (f" ({noted})" if noted else ""), err=True)


def agreement(
    first: Path = typer.Argument(..., metavar="GOLD_A", help="One annotator's graphs, or a file with labeler_1 and labeler_2 graphs."),
    second: Optional[Path] = typer.Argument(None, metavar="[GOLD_B]", help="The other annotator's graphs of the same reports."),
    as_json: bool = _flag("Print one JSON object instead of tables.", "--json"),
) -> None:
    """Entity and relation F1 between two annotators, per label and relation type (the human ceiling)."""
    if second is None:
        if not any(doc.annotator for doc in read_radgraph(first, "1")):
            raise InputError("has no labeler_1 and labeler_2 annotations: give the other annotator's graphs as GOLD_B",
                             first)
        result = evaluate_files(first, first, "1", "2", samples=0)
    else:
        result = evaluate_files(first, second, samples=0)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_evaluation(result)

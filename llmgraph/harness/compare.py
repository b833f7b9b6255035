"""The comparison harness: every system of an experiment over every gold set, scored the same way.

load experiment -> load gold sets -> per system x gold set: cached predictions or a fresh run
-> evaluate (CIs) -> paired bootstrap between systems -> per-report diffs -> tables in OUTDIR.

OUTDIR layout: ``gold/SET.json`` (the gold as scored), ``systems/SYSTEM/SET.json`` (predictions)
with ``SET.manifest.json`` and ``SET.key`` (the cache key), ``span-models/`` (trained baselines),
and the tables written by ``llmgraph.harness.results``. A system that fails is reported and skipped;
the others' results are still written.

Each system runs through ``extract``'s resumable runner (``llmgraph.runs.runner.run_resumable``): its
finished batches go to ``SET.json.partial.jsonl`` as they finish, under a lock, so a killed
comparison continues the system it was running; a partial run with another cache key starts over.

The cache key holds what the built system says decides its output (``System.settings()``: for a
span model the hash of its files, for a local LLM its files' sizes and times), so a model
retrained into the same folder runs again.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

from llmgraph.core.document import Document, has_scores
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.evaluation.pairing import label_set_of_documents
from llmgraph.evaluation.scoring import ScoredPredictions
from llmgraph.extraction.exemplars import pool_source
from llmgraph.harness.cache import cache_key
from llmgraph.harness.comparison import Comparison, Outcome
from llmgraph.harness.experiment import Experiment, SystemSpec, load_experiment
from llmgraph.harness.gold import human_ceiling, load_gold
from llmgraph.harness.layout import Layout, folder_name
from llmgraph.harness.results import write_results
from llmgraph.harness.calibration import calibration_rows
from llmgraph.harness.rows import paired_outcomes, per_report_rows, report_error_counts, significance_rows
from llmgraph.io.atomic import write_atomic, write_json
from llmgraph.io.outputs import check_output, paths_in, refuse_inputs_under
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.runs.runlog import settings_match
from llmgraph.runs.runner import run_resumable
from llmgraph.systems.base import System, SystemContext
from llmgraph.systems.kinds import system_kind


class Harness:
    """Runs an experiment into an output folder, reusing cached predictions."""

    def __init__(self, experiment: Experiment, out_dir: Path, rerun: bool = False, retry_failed: bool = False,
                 log: Callable[[str], None] = print):
        self.experiment, self.out_dir, self.rerun, self.log = experiment, out_dir, rerun, log
        self.retry_failed = retry_failed
        self.layout = Layout(out_dir)
        self.examples_source = pool_source(experiment.examples)  # the exemplar pool of every LLM system
        self.context = SystemContext(examples_source=self.examples_source, examples_labeler=experiment.examples_labeler
                                     or "1", work_dir=out_dir, log=log)

    def written_paths(self) -> list[Path]:
        """What a comparison writes into its output folder (``OUTPUT_FILES`` and ``OUTPUT_FOLDERS``)."""
        return self.layout.written_paths()

    def inputs(self) -> Iterator[tuple[str, Path]]:
        """Every file the comparison reads: the experiment, gold sets, exemplar pool, and every path a
        system's settings name (prediction files, models, prompts, training and dev files)."""
        experiment = self.experiment
        yield "experiment", experiment.path
        for gold_set in experiment.gold:
            yield f"gold set {gold_set.name}", gold_set.path
        if experiment.examples:
            yield "exemplar pool", experiment.examples
        for spec in experiment.systems:
            for path in paths_in(spec.settings):
                yield f"system {spec.name}'s file", path

    def run(self) -> Comparison:
        experiment = self.experiment
        refuse_inputs_under(self.written_paths(), self.inputs())  # never write over what it reads
        gold = {gold_set.name: load_gold(gold_set) for gold_set in experiment.gold}  # every file checked up front
        for name, docs in gold.items():
            write_radgraph(docs, self.layout.gold(name))
        examples = self.context.examples()
        self._check_systems()
        ceilings = {gold_set.name: spec for gold_set in experiment.gold
                    if (spec := human_ceiling(gold_set, gold[gold_set.name]))}
        self._check_folders([*experiment.systems, *ceilings.values()])
        outcomes = []
        try:
            for spec in experiment.systems:
                for name, docs in gold.items():
                    outcomes.append(self._outcome(spec, name, docs, examples))
            for name, spec in ceilings.items():
                outcomes.append(self._outcome(spec, name, gold[name], examples))
        finally:
            self.context.pool.close()
        pairs = paired_outcomes(gold, outcomes)
        diffs, per_report, errors = per_report_rows(experiment, pairs, outcomes)
        calibration = calibration_rows(pairs, outcomes, report_error_counts(per_report), experiment.dev_gold)
        return Comparison(experiment, self.out_dir, gold, outcomes, significance_rows(experiment, gold, outcomes),
                          diffs, per_report, errors, calibration)

    @staticmethod
    def _check_folders(specs: list[SystemSpec]) -> None:
        """Refuse two systems whose outputs would share a folder (a name like the human ceiling's)."""
        seen: dict[str, str] = {}
        for spec in specs:
            folder = folder_name(spec.name)
            if seen.get(folder, spec.name) != spec.name:
                raise InputError(f"systems {seen[folder]!r} and {spec.name!r} would write into one folder "
                                 f"(systems/{folder}): rename one")
            seen[folder] = spec.name

    def _check_systems(self) -> None:
        """Every system's own check (an LLM's ``shots`` against the exemplar pool), before any system runs or
        any model loads."""
        for spec in self.experiment.systems:
            kind = system_kind(spec.type)
            try:
                kind.check(kind.config_of(spec.settings), self.context)
            except InputError as error:
                raise InputError(f"system {spec.name}: {error.problem}", error.path) from None

    def _outcome(self, spec: SystemSpec, gold_name: str, docs: list[Document], examples: list[Document]) -> Outcome:
        outcome = Outcome(spec.name, gold_name, reference=bool(spec.settings.get("reference")))
        predictions = self.layout.predictions(spec.name, gold_name)
        key_file, manifest_file = self.layout.key(spec.name, gold_name), self.layout.manifest(spec.name, gold_name)
        system: System | None = None
        try:
            system = self._system(spec, gold_name, docs)
            key = cache_key(spec, docs, examples, system.settings())
            cached = (not self.rerun and key_file.exists() and key_file.read_text().strip() == key
                      and predictions.exists() and manifest_file.exists())
            if cached:
                outcome.manifest = json.loads(manifest_file.read_text())
                cached = not (self.retry_failed and outcome.manifest.get("errors"))
            if cached:
                outcome.cached = True
                failed = len(outcome.manifest.get("errors", {}))
                self.log(f"{spec.name} on {gold_name}: cached" +
                         (f" ({failed} reports failed; --retry-failed runs it again)" if failed else ""))
            else:
                self.log(f"{spec.name} on {gold_name}: running on {len(docs)} reports")
                outcome.manifest = self._run(system, docs, predictions, key) | {
                    "system": spec.name, "type": spec.type, "settings": spec.settings, "gold_set": gold_name}
                write_json(manifest_file, outcome.manifest)
                write_atomic(key_file, key + "\n")
                reused = outcome.manifest["reports_from_earlier_runs"]
                self.log(f"{spec.name} on {gold_name}: {outcome.manifest['reports_written']}/{len(docs)} reports in "
                         f"{outcome.manifest['wall_seconds']:.1f} s ({len(outcome.manifest['errors'])} failed"
                         + (f"; {reused} from an interrupted run)" if reused else ")"))
            outcome.predictions = predictions
            self._score(outcome, docs, read_radgraph(predictions))
        except InputError as error:
            outcome.error = str(error)
        except Exception as error:  # noqa: BLE001 - one failing system must not cost the others' results
            outcome.error = f"{type(error).__name__}: {error}"
            self.log("".join(traceback.format_exception(error)[-3:]).rstrip())
        finally:
            if system is not None:
                system.close()
        if outcome.error:
            self.log(f"{spec.name} on {gold_name}: FAILED: {outcome.error}")
        return outcome

    def _score(self, outcome: Outcome, docs: list[Document], predicted: list[Document]) -> None:
        """Score a system's predictions into ``outcome`` (without what scores below the experiment's
        ``min_score`` when its graphs carry scores), with a note when they were scored unlike the others."""
        notes = []
        min_score = self.experiment.min_score
        if min_score is not None and not any(map(has_scores, predicted)):
            min_score = None
            notes.append(f"scored whole: its graphs carry no scores for min_score {self.experiment.min_score:g}")
        outcome.scored = ScoredPredictions.of(docs, predicted, self._label_set(), self.experiment.rewards, min_score)
        outcome.scores = outcome.scored.result(**self.experiment.bootstrap)
        gold_labels, predicted_labels = label_set_of_documents(docs), label_set_of_documents(predicted)
        if gold_labels and predicted_labels and gold_labels != predicted_labels:
            notes.append(f"scored in {outcome.scores['label_set']} labels: its predictions are in "
                         f"{predicted_labels.value} labels, the gold in {gold_labels.value}")
        if notes:
            outcome.note = "; ".join(notes)
            self.log(f"{outcome.system} on {outcome.gold_set}: {outcome.note}")

    def _run(self, system: System, docs: list[Document], predictions: Path, key: str) -> dict[str, Any]:
        """``system`` over ``docs`` into ``predictions`` through the resumable runner of ``extract``:
        finished batches go to the partial file as they finish, so a killed comparison continues
        where it stopped. A partial run of other settings (another cache key) is started over."""
        settings = {"cache_key": key, **system.settings()}
        started = time.perf_counter()
        summary = run_resumable(system.stream, lambda: iter(docs), predictions, settings, quiet=True,
                              tokens=system.tokens, retry_failed=self.retry_failed,
                              restart=self.rerun or not settings_match(predictions, settings))
        return system.manifest() | {"wall_seconds": time.perf_counter() - started, **summary.manifest()}

    def _system(self, spec: SystemSpec, gold_name: str, docs: list[Document]) -> System:
        """The system a spec names for one gold set, built but not loaded (a span model asked for is
        trained first)."""
        context = replace(self.context, gold_set=gold_name, gold_ids=frozenset(doc.id for doc in docs))
        kind = system_kind(spec.type)
        return kind.build(kind.config_of(spec.settings), context)

    def _label_set(self) -> LabelSet | None:
        return LabelSet(self.experiment.label_set) if self.experiment.label_set else None

def compare(experiment: str | Path | Experiment, out_dir: str | Path, rerun: bool = False, retry_failed: bool = False,
            log: Callable[[str], None] = print) -> Comparison:
    """Python API of ``llmgraph compare``: every system of an experiment (a file, or a loaded
    ``Experiment``) over its gold sets, the tables written into ``out_dir`` (results.csv/.md,
    significance, diffs, viewers, plots); the comparison is returned. Finished systems are cached
    in ``out_dir``, so a second call runs only what changed."""
    out_dir = Path(out_dir)
    if not isinstance(experiment, Experiment):
        check_output(out_dir, [Path(experiment)], folder=True)
        experiment = load_experiment(experiment)
    comparison = Harness(experiment, out_dir, rerun, retry_failed, log).run()
    write_results(comparison)
    return comparison

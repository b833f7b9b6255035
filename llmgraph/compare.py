"""The comparison harness: every system of an experiment over every gold set, scored the same way.

load experiment -> load gold sets -> per system x gold set: cached predictions or a fresh run
-> evaluate (CIs) -> paired bootstrap between systems -> per-report diffs -> tables in OUTDIR.

OUTDIR layout: ``gold/SET.json`` (the gold as scored), ``systems/SYSTEM/SET.json`` (predictions)
with ``SET.manifest.json`` and ``SET.key`` (the cache key), ``span-models/`` (trained baselines),
and the tables written by ``llmgraph.results``. A system that fails is reported and skipped;
the others' results are still written.

Each system runs through ``extract``'s resumable runner (``llmgraph.batch.run_batches``): its
finished batches go to ``SET.json.partial.jsonl`` as they finish, under a lock, so a killed
comparison continues the system it was running; a partial run with another cache key starts over.

The cache key holds what the built system says decides its output (``System.settings()``: for a
span model the hash of its files, for a local LLM its files' sizes and times), so a model
retrained into the same folder runs again.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from llmgraph import __version__
from llmgraph.diff import document_diff
from llmgraph.document import Document
from llmgraph.errors import InputError
from llmgraph.experiment import Experiment, GoldSet, SystemSpec
from llmgraph.extractor import ExtractionConfig, check_exemplar_pool
from llmgraph.formats import read_radgraph, write_atomic, write_json, write_radgraph
from llmgraph.labels import LabelSet
from llmgraph.outputs import paths_in, refuse_inputs_under
from llmgraph.metrics import Scored, bootstrap_test, label_set_of_documents, randomization_test
from llmgraph.prompting import PromptTemplate, sample_gold_path
from llmgraph.batch import run_batches
from llmgraph.runlog import settings_match
from llmgraph.systems import System, SystemContext, file_sha256, system_config


@dataclass
class Outcome:
    """One system on one gold set: its scores, cost and diffs, or why it failed."""

    system: str
    gold_set: str
    predictions: Path | None = None
    scores: dict[str, Any] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    error: str | None = None
    reference: bool = False  # a ceiling row (another labeler, a reference model's predictions)
    note: str | None = None  # how it was scored, when that differs from the others (another label set)
    scored: Scored | None = field(default=None, repr=False)  # report by report: the tests and per-report rows


@dataclass
class Comparison:
    """Everything ``llmgraph.results`` turns into tables."""

    experiment: Experiment
    out_dir: Path
    gold: dict[str, list[Document]]
    outcomes: list[Outcome]
    significance: list[dict[str, Any]]
    diffs: list[dict[str, Any]]
    per_report: list[dict[str, Any]] = field(default_factory=list)

    @property
    def systems(self) -> list[str]:
        """The systems in table order: the experiment's, then the references ``compare`` added."""
        return list(dict.fromkeys(outcome.system for outcome in self.outcomes))

    @property
    def references(self) -> set[str]:
        return {outcome.system for outcome in self.outcomes if outcome.reference}


def load_gold(gold_set: GoldSet) -> list[Document]:
    """The gold documents of a set, with its default modality and limit applied."""
    docs = read_radgraph(gold_set.path, gold_set.labeler)
    if gold_set.limit:
        docs = docs[:gold_set.limit]
    if gold_set.modality:
        docs = [doc if doc.modality else replace(doc, modality=gold_set.modality) for doc in docs]
    if not docs:
        raise InputError("no reports", gold_set.path)
    return docs


def folder_name(system: str) -> str:
    """The folder (and file-name part) of a system's outputs: its name, with anything but letters, digits
    and ``._+-`` as one ``-`` (``human (labeler 2 vs 1)`` is ``human-labeler-2-vs-1``)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", system).strip("-") or "system"


def human_ceiling(gold_set: GoldSet, docs: list[Document]) -> SystemSpec | None:
    """The other labeler of a gold set with two (a RadGraph test file read as ``labeler: 1`` or ``2``), as
    a reference row: ``human (labeler 2 vs 1)`` is labeler 2's graphs scored against labeler 1's."""
    if gold_set.labeler not in ("1", "2") or not any(doc.annotator for doc in docs):
        return None
    other = "2" if gold_set.labeler == "1" else "1"
    return SystemSpec(f"human (labeler {other} vs {gold_set.labeler})", "predictions",
                      {"path": str(gold_set.path), "labeler": other, "reference": True})


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _docs_digest(docs: list[Document]) -> str:
    return _digest([[doc.id, doc.text, doc.modality] for doc in docs])


def cache_key(spec: SystemSpec, gold: list[Document], examples: list[Document], system: dict[str, Any]) -> str:
    """What decides a system's predictions: its settings as written and as the built system states them
    (``system``: ``System.settings()``, with the model's fingerprint), the prompt file, the reports, the
    exemplars."""
    parts: dict[str, Any] = {"llmgraph": __version__, "type": spec.type, "settings": spec.settings,
                             "system": system, "reports": _docs_digest(gold)}
    if spec.type == "llm":
        config = ExtractionConfig.from_settings(spec.settings)
        parts["prompt_sha256"] = PromptTemplate.load(config.prompt).sha256
        if config.shots:
            parts["examples"] = _digest([[d.id, d.text, [vars(e) for e in d.entities],
                                          [vars(r) for r in d.relations]] for d in examples])
    return _digest(parts)


def training_data(train: dict[str, Any]) -> tuple[list[Document], list[Document] | None]:
    """Training and dev reports of a ``train:`` block; no ``dev:`` file means no dev set (None), never
    the training reports scored as dev."""
    if "synth" in train:
        from llmgraph.synth import synth_documents

        seed = train.get("seed", 0)
        n = train["synth"]
        return list(synth_documents(n, seed)), list(synth_documents(max(2, n // 5), seed + 1))
    train_docs = read_radgraph(train["train"], "1")
    return train_docs, read_radgraph(train["dev"], "1") if "dev" in train else None


def span_model_folder(train: dict[str, Any], out_dir: Path) -> Path:
    """Where a ``train:`` block's model goes: named by the block and the contents of its training and
    dev files, so an edited training file trains a new model rather than reusing the old one."""
    files = {key: file_sha256(train[key]) for key in ("train", "dev") if key in train}
    return out_dir / "span-models" / _digest({"llmgraph": __version__, "train": train,
                                              **({"files": files} if files else {})})[:16]


def trained_span_model(train: dict[str, Any], out_dir: Path, log: Callable[[str], None]) -> tuple[Path, float]:
    """The span model of a ``train:`` block, trained into ``out_dir/span-models`` unless it is there already
    (then 0 seconds)."""
    from llmgraph.span import train_span

    model_dir = span_model_folder(train, out_dir)
    if (model_dir / "span_model.json").exists():
        return model_dir, 0.0
    log(f"training a span model into {model_dir}")
    started = time.perf_counter()
    train_docs, dev_docs = training_data(train)
    options = {key: train[key] for key in ("epochs", "batch_size", "seed") if key in train}
    if "learning_rate" in train:
        options["lr"] = train["learning_rate"]
    train_span(train_docs, dev_docs, model_dir, encoder=train.get("encoder"), **options)
    return model_dir, time.perf_counter() - started


# What a comparison writes into its output folder: anything the experiment reads must lie elsewhere.
OUTPUT_FOLDERS = ("gold", "systems", "span-models", "llm-models", "plots", "viewer")
OUTPUT_FILES = ("results.csv", "results.md", "significance.csv", "diffs.jsonl", "per_report.csv", "failures.json")
RANDOMIZATION_SHUFFLES = 10_000  # of the approximate randomization test
LLM_DATA_KEYS = ("train", "dev", "synth")  # the data of an LLM system's train: block; the rest are LLMTrainingConfig's


def trained_llm_model(config: ExtractionConfig, out_dir: Path, log: Callable[[str], None]) -> tuple[Path, float]:
    """The fine-tuned model of an LLM system's ``train:`` block, trained into ``out_dir/llm-models`` unless it
    is there already (then 0 seconds). Its folder is named by everything training reads: the block, the base
    model, the prompt file's contents, the label set and the training files' contents, so systems that differ
    only in how they decode (grammar, backend) share one trained model."""
    from llmgraph.finetune import CARD, train_llm

    model_dir = llm_model_folder(config, out_dir)
    if (model_dir / CARD).exists():
        return model_dir, 0.0
    log(f"fine-tuning {config.model or 'the embedded model'} into {model_dir}")
    started = time.perf_counter()
    train = dict(config.train or {})
    train_docs, dev_docs = training_data(train)
    data = {key: train[key] for key in LLM_DATA_KEYS if key in train} | {
        f"{key}_sha256": file_sha256(train[key]) for key in ("train", "dev") if key in train}
    train_llm(train_docs, dev_docs, model_dir, llm_training_config(config), force=True, progress=True, data=data,
              log=log)
    return model_dir, time.perf_counter() - started


def llm_training_config(config: ExtractionConfig) -> Any:
    """The ``LLMTrainingConfig`` of an LLM system's ``train:`` block: its training keys, and the system's
    model (the base), prompt and labels."""
    from llmgraph.finetune import LLMTrainingConfig

    options = {key: value for key, value in (config.train or {}).items() if key not in LLM_DATA_KEYS}
    return LLMTrainingConfig.from_settings(options | {"model": config.model, "prompt": config.prompt,
                                                      "labels": config.labels})


def llm_model_folder(config: ExtractionConfig, out_dir: Path) -> Path:
    """Where an LLM system's ``train:`` block's model goes: named by everything training reads (the block,
    checked first, the base model, the prompt file's contents, the label set, the training files' contents)."""
    llm_training_config(config)  # a bad training setting fails before anything is named or trained
    train = dict(config.train or {})
    files = {key: file_sha256(train[key]) for key in ("train", "dev") if key in train}
    key = {"llmgraph": __version__, "train": train, "base_model": config.model,
           "prompt_sha256": PromptTemplate.load(config.prompt).sha256, "labels": config.labels.value,
           **({"files": files} if files else {})}
    return out_dir / "llm-models" / _digest(key)[:16]


class Harness:
    """Runs an experiment into an output folder, reusing cached predictions."""

    def __init__(self, experiment: Experiment, out_dir: Path, rerun: bool = False, retry_failed: bool = False,
                 log: Callable[[str], None] = print):
        self.experiment, self.out_dir, self.rerun, self.log = experiment, out_dir, rerun, log
        self.retry_failed = retry_failed
        self.examples_source = experiment.examples or sample_gold_path()  # the exemplar pool of every LLM system
        self.context = SystemContext(examples_source=self.examples_source, work_dir=out_dir, log=log)

    def written_paths(self) -> list[Path]:
        """What a comparison writes into its output folder (``OUTPUT_FILES`` and ``OUTPUT_FOLDERS``)."""
        return [self.out_dir / name for name in (*OUTPUT_FOLDERS, *OUTPUT_FILES)]

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
            write_radgraph(docs, self.out_dir / "gold" / f"{name}.json")
        examples = read_radgraph(self.examples_source, experiment.examples_labeler or "1")
        self.context.loaded_examples = examples
        self._check_exemplar_pools(examples)
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
        diffs, per_report = self._per_report(gold, outcomes)
        return Comparison(experiment, self.out_dir, gold, outcomes, self._significance(gold, outcomes), diffs,
                          per_report)

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

    def _check_exemplar_pools(self, examples: list[Document]) -> None:
        """Every LLM system's ``shots`` against the exemplar pool, before any system runs or any model loads."""
        for spec in self.experiment.systems:
            if spec.type == "llm":
                try:
                    check_exemplar_pool(ExtractionConfig.from_settings(spec.settings).shots, examples,
                                        self.examples_source)
                except InputError as error:
                    raise InputError(f"system {spec.name}: {error.problem}", error.path) from None

    def _outcome(self, spec: SystemSpec, gold_name: str, docs: list[Document], examples: list[Document]) -> Outcome:
        outcome = Outcome(spec.name, gold_name, reference=bool(spec.settings.get("reference")))
        folder = self.out_dir / "systems" / folder_name(spec.name)
        predictions, key_file = folder / f"{gold_name}.json", folder / f"{gold_name}.key"
        manifest_file = folder / f"{gold_name}.manifest.json"
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
            predicted = read_radgraph(predictions)
            outcome.scored = Scored.of(docs, predicted, self._label_set(), self.experiment.rewards)
            outcome.scores = outcome.scored.result(**self._bootstrap())
            gold_labels, predicted_labels = label_set_of_documents(docs), label_set_of_documents(predicted)
            if gold_labels and predicted_labels and gold_labels != predicted_labels:
                outcome.note = (f"scored in {outcome.scores['label_set']} labels: its predictions are in "
                                f"{predicted_labels.value} labels, the gold in {gold_labels.value}")
                self.log(f"{spec.name} on {gold_name}: {outcome.note}")
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

    def _run(self, system: System, docs: list[Document], predictions: Path, key: str) -> dict[str, Any]:
        """``system`` over ``docs`` into ``predictions`` through the resumable runner of ``extract``:
        finished batches go to the partial file as they finish, so a killed comparison continues
        where it stopped. A partial run of other settings (another cache key) is started over."""
        settings = {"cache_key": key, **system.settings()}
        started = time.perf_counter()
        summary = run_batches(system.stream, lambda: iter(docs), predictions, settings, quiet=True,
                              tokens=system.tokens, retry_failed=self.retry_failed,
                              restart=self.rerun or not settings_match(predictions, settings))
        return system.manifest() | {"wall_seconds": time.perf_counter() - started, **summary.manifest()}

    def _system(self, spec: SystemSpec, gold_name: str, docs: list[Document]) -> System:
        """The system a spec names for one gold set, built but not loaded (a span model asked for is
        trained first)."""
        context = replace(self.context, gold_set=gold_name, gold_ids=frozenset(doc.id for doc in docs))
        return system_config(spec.type, spec.settings).system(context)

    def _label_set(self) -> LabelSet | None:
        return LabelSet(self.experiment.label_set) if self.experiment.label_set else None

    def _bootstrap(self) -> dict[str, Any]:
        return {"samples": self.experiment.bootstrap["samples"], "seed": self.experiment.bootstrap["seed"],
                "confidence": self.experiment.bootstrap["confidence"]}

    def _significance(self, gold: dict[str, list[Document]], outcomes: list[Outcome]) -> list[dict[str, Any]]:
        """The experiment's paired test (bootstrap, or approximate randomization with
        ``RANDOMIZATION_SHUFFLES`` shuffles) between every two systems that ran on a gold set."""
        rows = []
        randomization = self.experiment.significance == "randomization"
        for name in gold:
            done = [o for o in outcomes if o.gold_set == name and o.scored is not None]
            for i, first in enumerate(done):
                for second in done[i + 1:]:
                    if randomization:
                        tests = randomization_test(first.scored, second.scored, RANDOMIZATION_SHUFFLES,
                                                   self.experiment.bootstrap["seed"])
                    else:
                        tests = bootstrap_test(first.scored, second.scored, **self._bootstrap())
                    for metric, test in tests.items():
                        rows.append({"gold_set": name, "system_a": first.system, "system_b": second.system,
                                     "metric": metric, "test": self.experiment.significance, **test})
        return rows

    def _per_report(self, gold: dict[str, list[Document]], outcomes: list[Outcome]
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Per report of every system, in the label set its scores use: the errors (``diffs.jsonl``) and
        the scores (``per_report.csv``: precision, recall and F1 of entities and relations, the three
        rewards, with the report's modality and length in tokens)."""
        diffs, scores = [], []
        for outcome in outcomes:
            if outcome.scored is None:
                continue
            label_set = outcome.scored.label_set
            predicted = {doc.id: doc for doc in read_radgraph(outcome.predictions)}
            for doc, report in zip(gold[outcome.gold_set], outcome.scored.per_report()):
                pred = predicted.get(doc.id, replace(doc, entities=[], relations=[]))
                if label_set is not None:
                    doc, pred = doc.with_labels(label_set), pred.with_labels(label_set)
                error = outcome.manifest.get("errors", {}).get(doc.id)
                where = {"system": outcome.system, "gold_set": outcome.gold_set}
                diffs.append({**where, **document_diff(doc, pred), **({"error": error} if error else {})})
                scores.append({**where, "reference": outcome.reference, "id": doc.id, "modality": doc.modality,
                               "tokens": len(doc.tokens), "gold_entities": len(doc.entities),
                               "gold_relations": len(doc.relations),
                               **report,
                               "rewards": self.experiment.rewards, "error": error})
        return diffs, scores


def compare(experiment: str | Path | Experiment, out_dir: str | Path, rerun: bool = False, retry_failed: bool = False,
            log: Callable[[str], None] = print) -> Comparison:
    """Python API of ``llmgraph compare``: every system of an experiment (a file, or a loaded
    ``Experiment``) over its gold sets, the tables written into ``out_dir`` (results.csv/.md,
    significance, diffs, viewers, plots); the comparison is returned. Finished systems are cached
    in ``out_dir``, so a second call runs only what changed."""
    from llmgraph.experiment import load_experiment
    from llmgraph.outputs import check_output
    from llmgraph.results import write_results

    out_dir = Path(out_dir)
    if not isinstance(experiment, Experiment):
        check_output(out_dir, [Path(experiment)], folder=True)
        experiment = load_experiment(experiment)
    comparison = Harness(experiment, out_dir, rerun, retry_failed, log).run()
    write_results(comparison)
    return comparison

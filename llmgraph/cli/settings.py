"""From flags to what the library takes: the system settings (experiment-file keys) the LLM flags
describe, the built system, the Ray engine's options, the report-reading options, and training data.

Options another kind of system (or engine) takes are an error naming the flags, never silently dropped.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

from llmgraph.cli.options import Engine, SystemType, TxtLayout
from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.settings import setting_fields
from llmgraph.io.radgraph_reader import check_labeler_named, read_radgraph
from llmgraph.io.reports import ReportOptions
from llmgraph.systems.base import SystemContext
from llmgraph.systems.kinds import runnable_kinds, system_kind

LLM_OPTIONS = ("backend", "prompt", "shots", "examples", "exemplars", "labels", "grammar", "max_tokens", "max_entities",
               "temperature", "seed", "confidence", "fuzzy", "grammar_backend", "endpoints", "concurrency", "chunk_words")
FLAGS = {"endpoints": "--endpoint"}  # settings whose flag is not --setting-name
DECODING_FLAGS = ("temperature", "max_tokens", "seed", "confidence")  # the keys of the decoding setting
# Flags whose setting (experiment-file key) has another name; --examples is the exemplar pool of --shots.
FLAG_SETTING = {"endpoints": "url", "examples": "shots", **{key: "decoding" for key in DECODING_FLAGS}}
FLAGS_OF = {"url": "endpoints"}  # experiment-file key -> flag's parameter, where they differ


def _given_llm_options(values: dict[str, Any]) -> dict[str, Any]:
    """The LLM options a command was given (its parameters, ``locals()``), by parameter name."""
    return {key: value for key, value in values.items() if key in LLM_OPTIONS and value is not None}


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
    decoding = {key: given[key].value if isinstance(given[key], Enum) else given[key]
                for key in DECODING_FLAGS if key in given}
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


def _sections(sections: Optional[str]) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in sections.split(",")) if sections is not None else ()


def _report_options(text_column: Optional[str], id_column: Optional[str], modality: Optional[str],
                    sections: Optional[str], txt_layout: TxtLayout) -> ReportOptions:
    return ReportOptions(text_column, id_column, modality, _sections(sections), txt_layout.value)


def _read_training(path: Path, labeler: Optional[str]) -> list[Document]:
    """Gold reports to train on; ``--labeler 1|2`` names a labeler of a file that has two, never a plain file."""
    docs = read_radgraph(path, labeler)
    if labeler in ("1", "2"):
        check_labeler_named(docs, labeler, path, "--labeler")
    return docs

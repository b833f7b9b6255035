"""Experiment files for ``llmgraph compare``: gold sets and systems, read from YAML and checked
against ``schemas/experiment.schema.json``; sweeps expand into one system per combination.

A file is read by ``ExperimentLoader``, PyYAML's safe loader made strict: no duplicate keys, keys
are text, and anchors and aliases may not expand into more than ``MAX_YAML_NODES`` values (a few
hundred bytes of nested aliases otherwise stand for billions of them, which validating or quoting
the value would visit). Every problem is one line, ``FILE: where: problem``, and a value it quotes
is shortened.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePath
from typing import Any, Iterator

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from llmgraph.core.defaults import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, CONFIDENCE
from llmgraph.core.errors import InputError, shorten
from llmgraph.evaluation.rewards import DEFAULT_REWARDS
from llmgraph.io.text_files import read_text
from llmgraph.io.validation import load_schema
from llmgraph.systems.base import SystemKind
from llmgraph.systems.kinds import SYSTEM_KINDS, system_kind

BOOTSTRAP = {"samples": BOOTSTRAP_SAMPLES, "seed": BOOTSTRAP_SEED, "confidence": CONFIDENCE}  # the bootstrap: block's defaults

_PATH_KEYS = ("encoder", "train", "dev", "cache_dir")  # paths, relative to the experiment file
MAX_YAML_NODES = 100_000  # values a full walk of a file's YAML may visit, an alias counted as all it repeats
MAX_YAML_DEPTH = 50  # levels of nesting, through aliases too
MAX_SYSTEMS = 1_000  # systems an experiment may have, its sweeps' combinations included
_QUOTE = 80  # characters of a value quoted in a message
_MERGE_TAG, _STR_TAG = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:str"
_NAME_LABEL_SUFFIXES = (".j2", ".gguf")  # left out of a varied prompt's or model's part of a sweep's names
_TEMPLATE_PART = re.compile(r"\{([^{}]*)\}|[{}]")  # a {field} of a sweep name template, or a lone brace


@dataclass(frozen=True)
class GoldSet:
    """One gold file to score every system on."""

    name: str
    path: Path
    labeler: str | None = None
    modality: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class SystemSpec:
    """One system: ``type`` llm, span, radgraph or predictions, with its settings as written (paths resolved)."""

    name: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Experiment:
    """A parsed experiment file."""

    name: str
    path: Path
    gold: list[GoldSet]
    systems: list[SystemSpec]
    examples: Path | None = None
    examples_labeler: str | None = None
    label_set: str | None = None
    bootstrap: dict[str, Any] = field(default_factory=lambda: dict(BOOTSTRAP))
    rewards: str = DEFAULT_REWARDS  # the F1RadGraph version (llmgraph.evaluation.rewards.REWARD_VERSIONS)
    significance: str = "bootstrap"  # the paired test between systems: bootstrap or randomization
    dev_gold: str | None = None  # the gold set each system's score threshold is chosen on (calibration)
    min_score: float | None = None  # systems with scores are scored without what scores below it


def _quote(value: Any) -> str:
    """``repr(value)``, shortened to fit in a one-line message."""
    return shorten(repr(value), _QUOTE)


# --- YAML ---------------------------------------------------------------------------------------------


def _line(node: yaml.Node) -> str:
    """Where a node starts, as ``line N``."""
    return f"line {node.start_mark.line + 1}"


def _mappings(root: yaml.Node) -> Iterator[yaml.MappingNode]:
    """Every mapping node reachable from ``root``, once each (an aliased one is not repeated)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node in seen or isinstance(node, yaml.ScalarNode):
            continue
        seen.add(node)
        if isinstance(node, yaml.MappingNode):
            yield node
        stack.extend(reversed([part for pair in node.value for part in pair]
                              if isinstance(node, yaml.MappingNode) else node.value))


def _trail_parts(trail: tuple | None) -> list:
    """The keys and indexes from the top of a value down to where ``trail`` (``(parent trail, part)``) ends."""
    parts = []
    while trail is not None:
        trail, part = trail
        parts.append(part)
    return parts[::-1]


def _check_expansion(value: Any) -> None:
    """Refuse a loaded value whose full walk, a shared (aliased) part counted each time it is reached,
    visits more than ``MAX_YAML_NODES`` values or goes deeper than ``MAX_YAML_DEPTH`` levels: a few
    hundred bytes of nested aliases stand for billions of values, and a recursive alias never ends.
    Values are counted as they are put on the walk's stack, so the stack stays within the budget too."""
    stack: list[tuple[Any, int, tuple | None]] = [(value, 1, None)]
    visits = 1
    while stack:
        item, depth, trail = stack.pop()
        if depth > MAX_YAML_DEPTH:
            where = shorten(_where(_trail_parts(trail)), 200)
            raise InputError(f"{where}: nested more than {MAX_YAML_DEPTH} levels deep "
                             "(an alias inside its own anchor?)")
        if not isinstance(item, (dict, list, tuple)):
            continue
        visits += len(item) * (2 if isinstance(item, dict) else 1)  # a mapping's keys are values too
        if visits > MAX_YAML_NODES:
            raise InputError(f"more than {MAX_YAML_NODES:,} values once its aliases are expanded "
                             "(an anchor reused too often)")
        parts = reversed(item.items()) if isinstance(item, dict) else reversed(list(enumerate(item)))
        stack.extend((child, depth + 1, (trail, part)) for part, child in parts)


def _check_keys(mapping: yaml.MappingNode) -> None:
    """Refuse a mapping's keys that are not text, or given twice; merge keys (``<<: *base``) are
    left to PyYAML, which lets the mapping's own keys override the merged ones."""
    first_line: dict[str, str] = {}
    for key, _ in mapping.value:
        if key.tag == _MERGE_TAG:
            continue
        if not isinstance(key, yaml.ScalarNode) or key.tag != _STR_TAG:
            shown = (key.value or "(empty)") if isinstance(key, yaml.ScalarNode) else f"a {key.id}"
            raise InputError(f"{_line(key)}: the key {shorten(str(shown), _QUOTE)} is not text (quote it)")
        if key.value in first_line:
            raise InputError(f"{_line(key)}: duplicate key {_quote(key.value)} "
                             f"(first given on {first_line[key.value]})")
        first_line[key.value] = _line(key)


class ExperimentLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what would silently lose a value or blow up: duplicate keys,
    keys that are not text, nesting deeper than ``MAX_YAML_DEPTH`` and aliases that expand to more
    than ``MAX_YAML_NODES`` values. Its problems are ``InputError``s, with the line where there is one."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """A node, refused deeper than ``MAX_YAML_DEPTH`` (PyYAML composes recursively, and would
        end in a ``RecursionError``)."""
        if self._depth >= MAX_YAML_DEPTH:
            line = self.peek_event().start_mark.line + 1
            raise InputError(f"line {line}: nested more than {MAX_YAML_DEPTH} levels deep")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node:
        """The document's nodes, every mapping's keys checked (where the lines are still known)."""
        root = super().compose_document()
        for mapping in _mappings(root):
            _check_keys(mapping)
        return root

    def construct_document(self, node: yaml.Node) -> Any:
        """The document's value, checked for the size of its full walk before anything walks it.
        (PyYAML builds an aliased node once and shares it, so building is cheap; walking is not.)"""
        value = super().construct_document(node)
        _check_expansion(value)
        return value

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer; one longer than Python converts from text is refused, not a ``ValueError``."""
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise InputError(f"{_line(node)}: a number of {len(node.value):,} digits is too long") from None


ExperimentLoader.add_constructor("tag:yaml.org,2002:int", ExperimentLoader.construct_yaml_int)


def read_yaml(path: Path) -> Any:
    """The YAML value of ``path``, read by ``ExperimentLoader``; a syntax error says its line."""
    loader = ExperimentLoader(read_text(path))
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        problem = error.problem or error.context or str(error).splitlines()[0]
        raise InputError(f"{where}not valid YAML ({shorten(problem, 200)})") from None
    except yaml.YAMLError as error:
        raise InputError(f"not valid YAML ({shorten(str(error).splitlines()[0], 200)})") from None
    finally:
        loader.dispose()


# --- the schema -------------------------------------------------------------------------------------


def _is_integer(checker: Any, instance: Any) -> bool:
    """A JSON Schema ``integer``: a whole number written as one (``3``, not ``3.0`` or ``true``)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(checker: Any, instance: Any) -> bool:
    """A JSON Schema ``number``: an integer or a finite float (YAML's ``.nan`` passes every bound)."""
    return _is_integer(checker, instance) or (isinstance(instance, float) and math.isfinite(instance))


_Validator = validators.extend(Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
    {"integer": _is_integer, "number": _is_number}))


@cache
def _validator() -> Draft202012Validator:
    """The experiment schema's validator (with ``integer`` and ``number`` as above)."""
    return _Validator(load_schema("experiment.schema.json"))


@cache
def _name_validator() -> Draft202012Validator:
    """The schema's rule for a name (``$defs.name``), for names made by sweeps."""
    return _Validator(load_schema("experiment.schema.json")["$defs"]["name"])


def _where(path: list) -> str:
    """A key path as written in messages: ``systems[0].decoding.temperature``."""
    where = ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def _known_keys(schema: dict[str, Any]) -> set[str]:
    """The keys a schema object declares, with those of the definition it refers to (``$ref``)."""
    known = set(schema.get("properties", {}))
    reference = schema.get("$ref", "")
    if reference.startswith("#/$defs/"):
        known |= _known_keys(load_schema("experiment.schema.json")["$defs"][reference.removeprefix("#/$defs/")])
    return known


def _message(error: ValidationError) -> str:
    """jsonschema's message, the value it starts with (``'x' is too long``) shortened."""
    quoted = repr(error.instance)
    if error.message.startswith(quoted):
        return _quote(error.instance) + error.message[len(quoted):]
    return shorten(error.message, 300)


def _check(raw: Any) -> None:
    """Schema errors as one line that names the key, e.g. ``systems[1]: unknown key 'promt'``."""
    if not isinstance(raw, dict):
        raise InputError("expected a YAML mapping with 'gold' and 'systems'")
    error = best_match(_validator().iter_errors(raw))
    if error is None:
        return
    deepest, choice = error, None
    while deepest.context:  # if/then/else, allOf, oneOf: the error of the branch that applied
        choice = deepest if deepest.validator == "oneOf" else choice
        deepest = best_match(deepest.context)
    where = _where(list(deepest.absolute_path))
    if deepest.validator in ("additionalProperties", "unevaluatedProperties"):
        known = _known_keys(deepest.schema)
        instance = deepest.instance if isinstance(deepest.instance, dict) else {}
        extra = sorted(key for key in instance if key not in known)
        message = f"unknown key {_quote(extra[0])}" if extra else _message(deepest)
    elif deepest.validator == "enum":
        expected = ", ".join(map(str, deepest.validator_value))
        message = f"unknown value {_quote(deepest.instance)} (expected one of {expected})"
    elif deepest.validator == "const" and where.endswith(".type"):
        message = f"unknown system type {_quote(deepest.instance)} (expected one of {SYSTEM_KINDS.names()})"
    elif deepest.validator == "oneOf":  # more than one of the alternatives given
        options = [repr(branch["required"][0]) for branch in deepest.validator_value]
        message = f"give only one of {' or '.join(options)}"
    elif choice is not None and deepest.validator == "required":
        options = [repr(branch["required"][0]) for branch in choice.validator_value]
        message = f"needs exactly one of {' or '.join(options)}"
    elif deepest.validator == "type" and isinstance(deepest.instance, float) and not math.isfinite(deepest.instance):
        message = f"{deepest.instance} is not a finite number"
    else:
        message = _message(deepest)
    raise InputError(f"{where}: {message}" if where else message)


# --- systems and sweeps ---------------------------------------------------------------------------------


def _resolve(value: Any, base: Path, key: str, kind: SystemKind) -> Any:
    """Paths relative to the experiment file (a mapping of them, value by value); a key the kind takes as a
    path only when it exists (an LLM's ``model``: else a model id) only then."""
    if isinstance(value, dict) and key in kind.path_keys:
        return {name: _resolve(item, base, key, kind) for name, item in value.items()}
    if not isinstance(value, str) or Path(value).is_absolute():
        return value
    if key in _PATH_KEYS or key in kind.path_keys:
        return str(base / value)
    if key in kind.local_path_keys and (base / value).exists():
        return str(base / value)
    return value


def _system(raw: dict[str, Any], defaults: dict[str, Any], base: Path) -> SystemSpec:
    """A system's spec: its settings over the ``defaults`` where its kind takes them, paths resolved against
    ``base``."""
    kind = system_kind(raw.get("type", "llm"))
    settings = {key: value for key, value in raw.items() if key not in ("name", "type")}
    if kind.takes_defaults:
        decoding = {**defaults.get("decoding", {}), **settings.get("decoding", {})}
        settings = {**defaults, **settings} | ({"decoding": decoding} if decoding else {})
    if isinstance(settings.get("train"), dict):
        settings["train"] = {key: _resolve(value, base, key, kind) for key, value in settings["train"].items()}
    return SystemSpec(raw["name"], kind.name, {key: _resolve(value, base, key, kind) for key, value in settings.items()})


def _label(key: str, value: Any) -> str:
    """A varied value as it reads in a system name: a model or prompt by the last part of its path,
    without ``.j2`` / ``.gguf`` (``Qwen/Qwen2.5-7B`` is ``Qwen2.5-7B``, ``prompts/mine.j2`` is ``mine``)."""
    text = str(value)
    if key not in ("model", "prompt"):
        return text
    text = PurePath(text).name or text
    for suffix in _NAME_LABEL_SUFFIXES:
        text = text.removesuffix(suffix)
    return text


def _check_template(template: str, keys: list[str], where: str) -> None:
    """Refuse a sweep name template with anything in braces but ``{key}`` of a key the sweep varies
    (no format specs, attributes or indexes: the template is plain substitution)."""
    for part in _TEMPLATE_PART.finditer(template):
        field_name = part.group(1)
        if field_name is None:
            raise InputError(f"{where}: name template {_quote(template)} has a {part.group()!r} without its pair")
        if field_name in keys:
            continue
        if re.fullmatch(r"[A-Za-z_]\w*", field_name):
            raise InputError(f"{where}: name template {_quote(template)} names {_quote(field_name)}, "
                             "which the sweep does not vary")
        raise InputError(f"{where}: name template {_quote(template)}: {_quote(part.group())} is not one of "
                         f"{', '.join(f'{{{key}}}' for key in keys)} (only the keys the sweep varies are replaced)")


def _fill(template: str, labels: dict[str, str]) -> str:
    """The template with each ``{key}`` replaced by its label (a checked template has nothing else in braces)."""
    return _TEMPLATE_PART.sub(lambda part: labels[part.group(1)], template)


def _check_name(name: str, template: str, where: str) -> None:
    """Refuse a name made by a sweep that the schema would refuse as a system's ``name``."""
    if _name_validator().is_valid(name):
        return
    rule = load_schema("experiment.schema.json")["$defs"]["name"]
    raise InputError(f"{where}: name template {_quote(template)} makes the name {_quote(name)}; a name matches "
                     f"{rule['pattern']} and has at most {rule['maxLength']} characters")


def _expand(sweep: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """One raw system per combination of the ``vary`` lists, named by the ``name`` template."""
    keys = list(sweep["vary"])
    template = sweep.get("name") or "-".join(f"{{{key}}}" for key in keys)
    _check_template(template, keys, f"{where}.name")
    systems = []
    for values in itertools.product(*(sweep["vary"][key] for key in keys)):
        chosen = dict(zip(keys, values))
        name = _fill(template, {key: _label(key, value) for key, value in chosen.items()})
        _check_name(name, template, f"{where}.name")
        systems.append({"name": name, **sweep.get("settings", {}), **chosen})
    return systems


def _check_system_count(raw: dict[str, Any]) -> None:
    """Refuse more than ``MAX_SYSTEMS`` systems, naming the sweep that passes the limit, before any is made."""
    total = len(raw.get("systems", []))
    for index, sweep in enumerate(raw.get("sweeps", [])):
        combinations = math.prod(len(values) for values in sweep["vary"].values())
        total += combinations
        if total > MAX_SYSTEMS:
            raise InputError(f"sweeps[{index}].vary: {combinations:,} combinations make {total:,} systems, "
                             f"more than the {MAX_SYSTEMS:,} an experiment may have")


def _check_unique_names(systems: list[SystemSpec]) -> None:
    """Refuse two systems of one name (their predictions would go to one folder)."""
    seen: set[str] = set()
    for system in systems:
        if system.name in seen:
            raise InputError(f"systems: the name {_quote(system.name)} is used twice")
        seen.add(system.name)


def _gold_sets(raw: list[dict[str, Any]], base: Path) -> list[GoldSet]:
    """The ``gold`` entries, paths resolved; two with one name are refused."""
    gold = [GoldSet(g["name"], base / g["path"], None if g.get("labeler") is None else str(g["labeler"]),
                    g.get("modality"), g.get("limit")) for g in raw]
    seen: set[str] = set()
    for gold_set in gold:
        if gold_set.name in seen:
            raise InputError(f"gold: two gold sets have the same name {_quote(gold_set.name)}")
        seen.add(gold_set.name)
    return gold


def load_experiment(path: str | Path) -> Experiment:
    """Parse, validate and expand an experiment file; every problem is an ``InputError`` naming the file."""
    path = Path(path)
    base = path.parent
    try:
        raw = read_yaml(path)
        _check(raw)
        _check_system_count(raw)
        defaults = raw.get("defaults", {})
        raws = [*raw.get("systems", []),
                *(system for index, sweep in enumerate(raw.get("sweeps", []))
                  for system in _expand(sweep, f"sweeps[{index}]"))]
        systems = [_system(system, defaults, base) for system in raws]
        _check_unique_names(systems)
        gold = _gold_sets(raw["gold"], base)
        if raw.get("dev_gold") is not None and raw["dev_gold"] not in {g.name for g in gold}:
            raise InputError(f"dev_gold {_quote(raw['dev_gold'])}: not the name of a gold set of this experiment")
    except InputError as error:
        raise error.at(path) from None
    bootstrap = BOOTSTRAP | raw.get("bootstrap", {})
    examples = raw.get("examples")
    return Experiment(raw.get("name", path.stem), path, gold, systems,
                      base / examples if examples else None,
                      None if raw.get("examples_labeler") is None else str(raw["examples_labeler"]),
                      raw.get("label_set"), bootstrap, raw.get("rewards", DEFAULT_REWARDS),
                      raw.get("significance", "bootstrap"), raw.get("dev_gold"), raw.get("min_score"))

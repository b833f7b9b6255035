"""F1RadGraph rewards RG_E / RG_ER / RG_ER-bar, as ``radgraph.rewards.compute_reward`` scores them.

The reward levels simple / partial / complete of radgraph 0.1.18 (or of the radgraph repository's main
branch), reproduced operation for operation on the same annotation dicts; a report's reward is 0 when
either side has no entities.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llmgraph.core.errors import InputError

REWARD_LEVELS = {"rg_e": "simple", "rg_er": "partial", "rg_er_bar": "complete"}
# F1RadGraph as scored by: the radgraph package on PyPI (0.1.18: entity tokens lower-cased only in the
# relation items of ``complete``), and the radgraph repository's main branch since its PR #15 (lower-cased
# at every level). The same predictions get other RG_E / RG_ER when their case differs from the gold's.
REWARD_VERSIONS = ("radgraph-0.1.18", "radgraph-main")
DEFAULT_REWARDS = REWARD_VERSIONS[0]


def set_f1(hypothesis: set, reference: set) -> float:
    matched = len(hypothesis & reference)
    precision = matched / len(hypothesis) if len(hypothesis) > 0 else 0.0
    recall = matched / len(reference) if len(reference) > 0 else 0.0
    return (2 * precision * recall / (precision + recall)) if (precision + recall) > 0 else 0.0


def check_rewards(version: str) -> str:
    if version not in REWARD_VERSIONS:
        raise InputError(f"unknown reward version {version!r} (expected one of {', '.join(REWARD_VERSIONS)})")
    return version


def reward_sets(entities: Iterable[tuple[str, str, Sequence[tuple[str, str]]]],
                rewards: str = DEFAULT_REWARDS) -> dict[str, set]:
    """The items each reward level compares, from (tokens, label, [(relation type, target tokens)])
    per entity, as ``radgraph.rewards`` builds them: ``simple`` (tokens, label); ``partial`` the
    same, marked when the entity has relations; ``complete`` (tokens, label) of entities without
    relations and (tokens, label, type, target tokens), lowercased, per relation. Under
    ``radgraph-main`` the tokens are lower-cased in every item."""
    fold = str.lower if check_rewards(rewards) == "radgraph-main" else str
    simple: set = set()
    partial: set = set()
    complete: set = set()
    for tokens, label, relations in entities:
        simple.add((fold(tokens), label))
        if relations:
            partial.add((fold(tokens), label, True))
            complete.update((tokens.lower(), label, kind, target.lower()) for kind, target in relations)
        else:
            partial.add((fold(tokens), label))
            complete.add((fold(tokens), label))
    return {"simple": simple, "partial": partial, "complete": complete}


def reward_items(annotation: dict, rewards: str = DEFAULT_REWARDS) -> dict[str, set]:
    """``reward_sets`` of a RadGraph annotation dict (``{"entities": {id: {"tokens", "label", "relations"}}}``)."""
    entities = annotation["entities"]
    return reward_sets(((entity["tokens"], entity["label"],
                         [(kind, entities[target]["tokens"]) for kind, target in entity["relations"]])
                        for entity in entities.values()), rewards)


def compute_reward(hypothesis: dict, reference: dict, reward_level: str, rewards: str = DEFAULT_REWARDS) -> float:
    """F1RadGraph of one report pair (RadGraph annotation dicts), as ``radgraph.rewards`` of that version."""
    if len(hypothesis["entities"]) == 0 or len(reference["entities"]) == 0:
        return 0.0
    return set_f1(reward_items(hypothesis, rewards)[reward_level], reward_items(reference, rewards)[reward_level])

"""Benchmark of the constraint engines, without a model: what each grammar mode costs to compile and to mask.

    python eval/bench_grammar.py [--out eval/results] [--every 1]

For every 30-word chunk (extraction's default) of the sample and long gold sets, each mode's constraint
(``json``: the static schema; ``report``, ``report-near``, ``report-any``: per-report grammars) is compiled
with llguidance (vLLM's ``guidance`` backend, Lark) and xgrammar (EBNF), and the chunk's gold answer (as
extraction's prompts and train-llm write it) is walked token by token with the SmolLM2 tokenizer, computing
the allowed-token mask before each token, as an engine does while it generates. Reports, per engine and
mode: compile time per chunk (median, p90), mask time per token (mean, median), the ratio of the mean mask
time to the static schema's, and how many gold answers the constraint takes. Also the share of gold chunks
``report-near`` takes at several windows (how ``NEAR_WINDOW`` was chosen).

Targets (issue "the grammar earns its place"), checked with llguidance for the default mode ``report``:
mask time per token at most 1.5x the schema's, compile at most 20 ms per chunk (median). Writes
eval/results/bench_grammar_DATE.{csv,json}; exits 1 when a target is missed (after writing).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from llmgraph.core.document import Document
from llmgraph.core.labels import RADGRAPH_LABELS
from llmgraph.extraction.chunking import annotated_chunks
from llmgraph.extraction.grammar import (
    RULES_OF,
    GrammarMode,
    near_rules,
    output_schema,
    to_ebnf,
    to_lark,
    within_grammar,
)
from llmgraph.extraction.models import resolve_model
from llmgraph.extraction.prompting import example_output
from llmgraph.io.radgraph_reader import read_radgraph

DATA = Path(__file__).resolve().parent / "data"
SETS = {"sample": DATA / "sample_gold.json", "long": DATA / "long_gold.json"}
MODES = (GrammarMode.JSON, GrammarMode.REPORT, GrammarMode.REPORT_NEAR, GrammarMode.REPORT_ANY)
TARGETS = {"mask_ratio_to_json": 1.5, "compile_ms_median": 20.0}  # llguidance, mode report
WINDOWS = (4, 8, 12, 16, 24)


class Llguidance:
    name = "llguidance"

    def __init__(self, tokenizer):
        import llguidance
        import llguidance.hf
        import llguidance.numpy

        self.ll, self.numpy = llguidance, llguidance.numpy
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer)
        self.mask = llguidance.numpy.allocate_token_bitmask(1, self.tokenizer.vocab_size)

    def compile(self, mode: GrammarMode, doc: Document):
        if mode is GrammarMode.JSON:  # as vLLM's guidance backend builds it, without free whitespace
            grammar = self.ll.LLMatcher.grammar_from_json_schema(
                output_schema(RADGRAPH_LABELS), defaults={"whitespace_flexible": False, "item_separator": ",",
                                                          "key_separator": ":"})
        else:
            grammar = self.ll.LLMatcher.grammar_from_lark(to_lark(RULES_OF[mode](doc, RADGRAPH_LABELS, 60)))
        matcher = self.ll.LLMatcher(self.tokenizer, grammar, log_level=0)
        assert not matcher.is_error(), matcher.get_error()
        return matcher

    def step(self, matcher, token: int) -> bool:
        self.numpy.fill_next_token_bitmask(matcher, self.mask, 0)
        return matcher.consume_token(token)

    def done(self, matcher) -> bool:
        return matcher.is_accepting() and not matcher.is_error()


class Xgrammar:
    name = "xgrammar"

    def __init__(self, tokenizer):
        import xgrammar

        self.xgr = xgrammar
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer)
        self.compiler = xgrammar.GrammarCompiler(info, cache_enabled=False)
        self.mask = xgrammar.allocate_token_bitmask(1, info.vocab_size)

    def compile(self, mode: GrammarMode, doc: Document):
        if mode is GrammarMode.JSON:  # as the transformers backend and vLLM's xgrammar backend build it
            compiled = self.compiler.compile_json_schema(output_schema(RADGRAPH_LABELS), any_whitespace=False,
                                                         separators=(",", ":"))
        else:
            compiled = self.compiler.compile_grammar(to_ebnf(RULES_OF[mode](doc, RADGRAPH_LABELS, 60)))
        return self.xgr.GrammarMatcher(compiled)

    def step(self, matcher, token: int) -> bool:
        matcher.fill_next_token_bitmask(self.mask)
        return matcher.accept_token(token)

    def done(self, matcher) -> bool:
        return matcher.is_terminated() or matcher.is_completed()


def gold_chunks(every: int) -> dict[str, list[Document]]:
    """Every ``every``-th 30-word chunk of each gold set, cut to what the grammars can produce."""
    return {name: [within_grammar(chunk) for doc in read_radgraph(path) for chunk in annotated_chunks(doc, 30)[0]
                   ][::every] for name, path in SETS.items()}


def walk(engine, mode: GrammarMode, docs: list[Document], tokenizer) -> dict:
    """Compile each chunk's constraint and walk its gold answer: the times and the answers taken."""
    compile_ms, mask_us, taken = [], [], 0
    for doc in docs:
        started = time.perf_counter()
        matcher = engine.compile(mode, doc)
        compile_ms.append(1000 * (time.perf_counter() - started))
        tokens = tokenizer.encode(example_output(doc), add_special_tokens=False)
        ok = True
        for token in tokens:
            started = time.perf_counter()
            ok = engine.step(matcher, token)
            mask_us.append(1e6 * (time.perf_counter() - started))
            if not ok:
                break
        taken += ok and engine.done(matcher)
    return {"chunks": len(docs), "gold_answers_taken": taken,
            "compile_ms_median": statistics.median(compile_ms), "compile_ms_p90": float(np.percentile(compile_ms, 90)),
            "mask_us_mean": statistics.fmean(mask_us), "mask_us_median": statistics.median(mask_us),
            "tokens": len(mask_us)}


def window_reach(docs: list[Document], tokenizer) -> dict[int, float]:
    """The share of gold chunks whose answer report-near takes, per window (llguidance)."""
    engine = Llguidance(tokenizer)
    shares = {}
    for window in WINDOWS:
        taken = 0
        for doc in docs:
            grammar = engine.ll.LLMatcher.grammar_from_lark(to_lark(near_rules(doc, RADGRAPH_LABELS, window)))
            matcher = engine.ll.LLMatcher(engine.tokenizer, grammar, log_level=0)
            taken += bool(matcher.consume_tokens(tokenizer.encode(example_output(doc), add_special_tokens=False))) \
                and engine.done(matcher)
        shares[window] = taken / len(docs)
    return shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--every", type=int, default=1, help="Take every N-th chunk (1: all).")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(None))
    chunks = gold_chunks(args.every)
    rows = []
    for engine in (Llguidance(tokenizer), Xgrammar(tokenizer)):
        for gold_set, docs in chunks.items():
            for mode in MODES:
                rows.append({"engine": engine.name, "gold_set": gold_set, "mode": mode.value,
                             **walk(engine, mode, docs, tokenizer)})
                print(json.dumps(rows[-1]), file=sys.stderr)
    frame = pd.DataFrame(rows)
    schema = frame[frame["mode"] == "json"].set_index(["engine", "gold_set"])["mask_us_mean"]
    frame["mask_ratio_to_json"] = [row.mask_us_mean / schema[(row.engine, row.gold_set)] for row in frame.itertuples()]
    reach = {name: window_reach(docs, tokenizer) for name, docs in chunks.items()}
    default = frame[(frame.engine == "llguidance") & (frame["mode"] == "report")]
    missed = [f"{key} {value:.2f} > {TARGETS[key]}" for key in TARGETS for value in default[key] if value > TARGETS[key]]
    stamp = date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / f"bench_grammar_{stamp}.csv", index=False)
    (args.out / f"bench_grammar_{stamp}.json").write_text(json.dumps({
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "python": platform.python_version()},
        "date": stamp, "targets": TARGETS, "missed": missed, "rows": rows,
        "near_window_reach": {name: {str(w): share for w, share in shares.items()} for name, shares in reach.items()},
    }, indent=2))
    print(frame.round(3).to_markdown(index=False))
    print("report-near: share of gold chunks taken per window:", json.dumps(reach))
    print("targets missed: " + "; ".join(missed) if missed else "targets reached")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

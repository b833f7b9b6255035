"""Extraction benchmark: side by side in one run, same reports, same model, same prompt.

Measures and prints ratios for the extraction targets:
- vLLM offline engine, whole batch at once vs transformers one report at a time (reports/s);
- vLLM with the per-report grammar vs unconstrained (generated tokens/s, all prompts cached);
- per-report grammar compile time (llguidance, xgrammar) vs generation time.
Writes a CSV and a JSON summary (with machine and date) to eval/results/.

    python eval/bench_extract.py [--reports 32] [--max-tokens 256] [--skip-transformers]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import os
import platform
import time
from pathlib import Path

from llmgraph.backends import Decoding, create_backend
from llmgraph.extract import ExtractionConfig, Extractor
from llmgraph.formats import read_radgraph
from llmgraph.grammar import GrammarMode, report_rules, to_ebnf, to_lark
from llmgraph.labels import RADGRAPH_LABELS
from llmgraph.metrics import evaluate
from llmgraph.models import resolve_model
from llmgraph.prompting import sample_gold_path

RESULTS = Path(__file__).resolve().parent / "results"


def sample_reports(count: int):
    """``count`` reports cycled from the sample gold set (unique ids), with their gold."""
    gold = read_radgraph(sample_gold_path())
    chosen = []
    for index in range(count):
        doc = gold[index % len(gold)]
        chosen.append(dataclasses.replace(doc, id=f"{doc.id}#{index // len(gold)}"))
    return chosen


def pipeline(name: str, backend, docs, pool, max_tokens: int, batch_size: int) -> dict:
    """The whole pipeline (prompt, constrained generation, grounding) with the per-report grammar."""
    config = ExtractionConfig(prompt="few-shot", shots=3, grammar=GrammarMode.REPORT, batch_size=batch_size,
                              decoding=Decoding(max_tokens=max_tokens))
    result = Extractor(config, pool, backend).run(docs)
    seconds = result.seconds["generation"]
    scores = evaluate(docs, result.documents, samples=0)
    return report({
        "measure": "pipeline", "system": name, "grammar": "report", "batch_size": batch_size, "reports": len(docs),
        "reports_ok": result.counts["reports_ok"], "seconds": round(seconds, 2),
        "reports_per_second": round(len(docs) / seconds, 3), "generated_tokens": result.counts["completion_tokens"],
        "generated_tokens_per_second": round(result.counts["completion_tokens"] / seconds, 1),
        "entity_f1": round(scores["entity_f1"], 4), "relation_f1": round(scores["relation_f1"], 4),
    })


def decode(name: str, backend, docs, pool, grammar: GrammarMode, max_tokens: int,
           lengths: list[int] | None = None) -> tuple[dict, list[int]]:
    """One backend call on the whole batch (prompts already in the prefix cache): decoding speed.

    ``lengths`` gives each request its own token budget: an unconstrained run then generates as
    many tokens per report as a constrained one did, so both keep the same batch occupancy over
    time and the difference in speed is the constraint's cost, not a different mix of lengths.
    """
    config = ExtractionConfig(prompt="few-shot", shots=3, grammar=grammar, decoding=Decoding(max_tokens=max_tokens))
    extractor = Extractor(config, pool, backend)
    requests = [extractor.request_for(doc, lengths[i] if lengths else None) for i, doc in enumerate(docs)]
    started = time.perf_counter()
    generations = backend.generate(requests)
    seconds = time.perf_counter() - started
    tokens = sum(g.completion_tokens for g in generations)
    return report({
        "measure": "decode", "system": name, "grammar": grammar.value, "batch_size": len(docs), "reports": len(docs),
        "reports_ok": sum(g.finish_reason == "stop" for g in generations), "seconds": round(seconds, 2),
        "reports_per_second": round(len(docs) / seconds, 3), "generated_tokens": tokens,
        "generated_tokens_per_second": round(tokens / seconds, 1), "entity_f1": None, "relation_f1": None,
    }), [max(1, g.completion_tokens) for g in generations]


def report(row: dict) -> dict:
    print(json.dumps(row), flush=True)
    return row


def compile_times(docs, model_path: Path) -> dict:
    """Seconds to compile every report's grammar with llguidance and with xgrammar."""
    import llguidance
    import llguidance.hf
    import xgrammar
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)
    compiler = xgrammar.GrammarCompiler(xgrammar.TokenizerInfo.from_huggingface(tokenizer), cache_enabled=False)
    rules = [report_rules(doc, RADGRAPH_LABELS) for doc in docs]
    started = time.perf_counter()
    for rule in rules:
        grammar = llguidance.LLMatcher.grammar_from_lark(to_lark(rule))
        assert not llguidance.LLMatcher(ll_tokenizer, grammar).get_error()
    llg = time.perf_counter() - started
    started = time.perf_counter()
    for rule in rules:
        compiler.compile_grammar(to_ebnf(rule))
    xgr = time.perf_counter() - started
    return {"llguidance_seconds": round(llg, 3), "xgrammar_seconds": round(xgr, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--skip-transformers", action="store_true", help="Skip the slow sequential baseline.")
    args = parser.parse_args()
    docs = sample_reports(args.reports)
    pool = read_radgraph(sample_gold_path())
    model_path = resolve_model(None)
    decoding = Decoding(max_tokens=args.max_tokens)
    rows = []

    for grammar_backend in ("guidance", "xgrammar"):
        vllm = create_backend("vllm", str(model_path), decoding, grammar_backend=grammar_backend)
        tag = f"vllm[{grammar_backend}]"
        pipeline(f"{tag} warm-up (caches the shared few-shot prefix)", vllm, docs[:4], pool, args.max_tokens, 4)
        rows.append(pipeline(f"{tag} batched", vllm, docs, pool, args.max_tokens, len(docs)))
        # Every prompt is now in the prefix cache: the calls below differ only in the constraint.
        for grammar, label in ((GrammarMode.REPORT, "per-report grammar"), (GrammarMode.JSON, "static schema")):
            row, lengths = decode(f"{tag}, {label}", vllm, docs, pool, grammar, args.max_tokens)
            rows.append(row)
            rows.append(decode(f"{tag}, unconstrained, lengths of {label}", vllm, docs, pool, GrammarMode.NONE,
                               args.max_tokens, lengths)[0])
        vllm.close()
        del vllm
    if not args.skip_transformers:
        hf = create_backend("transformers", str(model_path), decoding, batch_size=1)
        rows.append(pipeline("transformers sequential", hf, docs, pool, args.max_tokens, 1))
        hf.close()
    compile = compile_times(docs, model_path)
    by_name = {row["system"]: row for row in rows}
    batched = by_name["vllm[guidance] batched"]
    def speed(name: str) -> float:
        return by_name[name]["generated_tokens_per_second"]

    ratios = {
        "vllm_guidance_batched_vs_transformers_sequential_reports_per_s": (
            round(batched["reports_per_second"] / by_name["transformers sequential"]["reports_per_second"], 2)
            if "transformers sequential" in by_name else None),
        **{f"{backend}_{key}_vs_unconstrained_tokens_per_s": round(
            speed(f"vllm[{backend}], {label}") / speed(f"vllm[{backend}], unconstrained, lengths of {label}"), 3)
           for backend in ("guidance", "xgrammar")
           for key, label in (("per_report_grammar", "per-report grammar"), ("static_schema", "static schema"))},
        "grammar_compile_share_of_generation_llguidance": round(compile["llguidance_seconds"] / batched["seconds"], 4),
        "grammar_compile_share_of_generation_xgrammar": round(compile["xgrammar_seconds"] / batched["seconds"], 4),
    }
    targets = {
        "vllm_guidance_batched_vs_transformers_sequential_reports_per_s": ">= 8",
        "guidance_per_report_grammar_vs_unconstrained_tokens_per_s": ">= 0.9",
        "xgrammar_per_report_grammar_vs_unconstrained_tokens_per_s": ">= 0.9",
        "guidance_static_schema_vs_unconstrained_tokens_per_s": "(reference)",
        "xgrammar_static_schema_vs_unconstrained_tokens_per_s": "(reference)",
        "grammar_compile_share_of_generation_llguidance": "<= 0.05",
        "grammar_compile_share_of_generation_xgrammar": "<= 0.05",
    }
    summary = {
        "date": datetime.date.today().isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "processor": platform.processor()},
        "model": "SmolLM2-135M-Instruct (embedded)", "prompt": "few-shot, 3 exemplars", "max_tokens": args.max_tokens,
        "rows": rows, "grammar_compile": compile, "ratios": ratios, "targets": targets,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = summary["date"]
    with open(RESULTS / f"bench_extract_{stamp}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (RESULTS / f"bench_extract_{stamp}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\nratios (target):")
    for name, value in ratios.items():
        print(f"  {name}: {value} ({targets[name]})")


if __name__ == "__main__":
    main()

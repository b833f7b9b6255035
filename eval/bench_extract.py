"""Extraction benchmark: side by side in one run, same reports, same model, same few-shot prompt.

Measures and prints ratios for the throughput targets:
- vLLM offline engine, whole batch at once vs one report per call (and vs transformers one at a time);
- prefix caching on vs off (the few-shot prompt is ~3,200 tokens, its exemplars shared by every report);
- a real ``vllm serve`` at 16 requests in flight vs 1;
- per-report grammar vs unconstrained and vs the static schema (generated tokens/s, all prompts cached);
- per-report grammar compile time (llguidance, xgrammar) vs generation time;
- the span baseline vs the LLM pipeline (reports/s).
Writes a CSV, a JSON summary (machine, date, ratios, targets) and a plot to eval/results/, and
exits 1 when a target is missed.

    python eval/bench_extract.py [--reports 32] [--max-tokens 256] [--skip-transformers] [--span-model DIR]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from llmgraph.core.labels import RADGRAPH_LABELS
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate
from llmgraph.extraction.backends import Decoding, create_backend
from llmgraph.extraction.backends.local_server import start_vllm_server
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.extractor import Extractor
from llmgraph.extraction.grammar import GrammarMode, report_rules, to_ebnf, to_lark
from llmgraph.extraction.models import resolve_model
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.synth import synth_documents
from llmgraph.training.span.predict import SpanPredictor
from llmgraph.training.span.train import train_span

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


def span_speed(docs, model: Path | None) -> dict:
    """The span baseline on the same reports (a small model trained on synthetic reports unless given)."""
    with tempfile.TemporaryDirectory() as folder:
        if model is None:
            model = Path(folder) / "span"
            train_span(list(synth_documents(200, seed=1)), list(synth_documents(40, seed=2)), model, epochs=2,
                       progress=False)
        predictor = SpanPredictor.load(model)
        started = time.perf_counter()
        predicted = predictor.predict(docs)
        seconds = time.perf_counter() - started
    scores = evaluate(docs, predicted, samples=0)
    return report({
        "measure": "pipeline", "system": "span baseline", "grammar": None, "batch_size": 16, "reports": len(docs),
        "reports_ok": len(predicted), "seconds": round(seconds, 2), "reports_per_second": round(len(docs) / seconds, 3),
        "generated_tokens": 0, "generated_tokens_per_second": None,
        "entity_f1": round(scores["entity_f1"], 4), "relation_f1": round(scores["relation_f1"], 4),
    })


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Reports/s of every whole-pipeline row, log scale, one bar each."""
    chosen = [row for row in rows if row["measure"] == "pipeline"]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(chosen) + 1.4))
    names = [row["system"] for row in chosen]
    speeds = [row["reports_per_second"] for row in chosen]
    bars = axes.barh(names, speeds, color="#0072B2")
    axes.bar_label(bars, labels=[f"{speed:,.2f}" for speed in speeds], padding=3, fontsize=8)
    axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel("reports/s (log scale)")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--skip-transformers", action="store_true", help="Skip the slow transformers baseline.")
    parser.add_argument("--span-model", type=Path, help="A folder written by llmgraph train-span.")
    args = parser.parse_args()
    docs = sample_reports(args.reports)
    pool = read_radgraph(sample_gold_path())
    model_path = resolve_model(None)
    decoding = Decoding(max_tokens=args.max_tokens)
    everything = len(docs)
    rows = []

    for grammar_backend in ("guidance", "xgrammar"):
        vllm = create_backend("vllm", str(model_path), decoding, grammar_backend=grammar_backend)
        tag = f"vllm[{grammar_backend}]"
        pipeline(f"{tag} warm-up (caches the shared few-shot prefix)", vllm, docs[:4], pool, args.max_tokens, 4)
        rows.append(pipeline(f"{tag} batched", vllm, docs, pool, args.max_tokens, everything))
        if grammar_backend == "guidance":
            rows.append(pipeline(f"{tag} one report per call", vllm, docs, pool, args.max_tokens, 1))
        # Every prompt is now in the prefix cache: the calls below differ only in the constraint.
        for grammar, label in ((GrammarMode.REPORT, "per-report grammar"), (GrammarMode.JSON, "static schema")):
            row, lengths = decode(f"{tag}, {label}", vllm, docs, pool, grammar, args.max_tokens)
            rows.append(row)
            rows.append(decode(f"{tag}, unconstrained, lengths of {label}", vllm, docs, pool, GrammarMode.NONE,
                               args.max_tokens, lengths)[0])
        vllm.close()
        del vllm

    vllm = create_backend("vllm", str(model_path), decoding, prefix_caching=False)
    pipeline("vllm[guidance] no prefix caching, warm-up", vllm, docs[:4], pool, args.max_tokens, 4)
    rows.append(pipeline("vllm[guidance] batched, prefix caching off", vllm, docs, pool, args.max_tokens, everything))
    vllm.close()
    del vllm

    server = start_vllm_server(model_path)
    try:
        for concurrency in (1, 16):
            served = create_backend("openai", "smollm2", decoding, base_url=server.url, concurrency=concurrency)
            pipeline(f"vllm serve warm-up ({concurrency})", served, docs[:2], pool, args.max_tokens, 2)
            rows.append(pipeline(f"vllm serve, {concurrency} in flight", served, docs, pool, args.max_tokens,
                                 everything))
            served.close()
    finally:
        server.stop()

    rows.append(span_speed(docs, args.span_model))
    if not args.skip_transformers:
        hf = create_backend("transformers", str(model_path), decoding, batch_size=1)
        rows.append(pipeline("transformers one report per call", hf, docs, pool, args.max_tokens, 1))
        hf.close()
    compile = compile_times(docs, model_path)
    by_name = {row["system"]: row for row in rows}
    batched = by_name["vllm[guidance] batched"]

    def speed(name: str) -> float:
        return by_name[name]["generated_tokens_per_second"]

    def reports_ratio(first: str, second: str) -> float | None:
        if first not in by_name or second not in by_name:
            return None
        return round(by_name[first]["reports_per_second"] / by_name[second]["reports_per_second"], 2)

    ratios = {
        "vllm_batched_vs_one_report_per_call_reports_per_s": reports_ratio(
            "vllm[guidance] batched", "vllm[guidance] one report per call"),
        "vllm_batched_vs_transformers_one_report_per_call_reports_per_s": reports_ratio(
            "vllm[guidance] batched", "transformers one report per call"),
        "prefix_caching_on_vs_off_reports_per_s": reports_ratio(
            "vllm[guidance] batched", "vllm[guidance] batched, prefix caching off"),
        "server_16_vs_1_in_flight_reports_per_s": reports_ratio("vllm serve, 16 in flight", "vllm serve, 1 in flight"),
        "span_baseline_vs_vllm_batched_reports_per_s": reports_ratio("span baseline", "vllm[guidance] batched"),
        **{f"{backend}_{key}_vs_unconstrained_tokens_per_s": round(
            speed(f"vllm[{backend}], {label}") / speed(f"vllm[{backend}], unconstrained, lengths of {label}"), 3)
           for backend in ("guidance", "xgrammar")
           for key, label in (("per_report_grammar", "per-report grammar"), ("static_schema", "static schema"))},
        **{f"{backend}_per_report_grammar_vs_static_schema_tokens_per_s": round(
            speed(f"vllm[{backend}], per-report grammar") / speed(f"vllm[{backend}], static schema"), 3)
           for backend in ("guidance", "xgrammar")},
        "grammar_compile_share_of_generation_llguidance": round(compile["llguidance_seconds"] / batched["seconds"], 4),
        "grammar_compile_share_of_generation_xgrammar": round(compile["xgrammar_seconds"] / batched["seconds"], 4),
    }
    targets = {  # (bound, at least?) or None for a reference value
        "vllm_batched_vs_one_report_per_call_reports_per_s": None,
        "vllm_batched_vs_transformers_one_report_per_call_reports_per_s": (8, True),
        "prefix_caching_on_vs_off_reports_per_s": (1.5, True),
        "server_16_vs_1_in_flight_reports_per_s": (4, True),
        "span_baseline_vs_vllm_batched_reports_per_s": None,
        "guidance_per_report_grammar_vs_unconstrained_tokens_per_s": (0.9, True),
        "xgrammar_per_report_grammar_vs_unconstrained_tokens_per_s": (0.9, True),
        "guidance_static_schema_vs_unconstrained_tokens_per_s": None,
        "xgrammar_static_schema_vs_unconstrained_tokens_per_s": None,
        "guidance_per_report_grammar_vs_static_schema_tokens_per_s": None,
        "xgrammar_per_report_grammar_vs_static_schema_tokens_per_s": None,
        "grammar_compile_share_of_generation_llguidance": (0.05, False),
        "grammar_compile_share_of_generation_xgrammar": (0.05, False),
    }
    missed = [name for name, target in targets.items() if target and ratios[name] is not None
              and (ratios[name] < target[0] if target[1] else ratios[name] > target[0])]
    summary = {
        "date": datetime.date.today().isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "processor": platform.processor()},
        "model": "SmolLM2-135M-Instruct (embedded)", "prompt": "few-shot, 3 exemplars", "max_tokens": args.max_tokens,
        "rows": rows, "grammar_compile": compile, "ratios": ratios,
        "targets": {name: (f"{'>=' if t[1] else '<='} {t[0]}" if t else "reference") for name, t in targets.items()},
        "missed": missed,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = summary["date"]
    with open(RESULTS / f"bench_extract_{stamp}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (RESULTS / f"bench_extract_{stamp}.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(rows, RESULTS / f"bench_extract_{stamp}.png",
         f"{len(docs)} reports, embedded SmolLM2-135M, {os.cpu_count()} CPU cores, {stamp}")
    print("\nratios (target):")
    for name, value in ratios.items():
        print(f"  {name}: {value} ({summary['targets'][name]}){'  MISSED' if name in missed else ''}")
    if missed:
        sys.exit(f"bench_extract: missed {', '.join(missed)}")


if __name__ == "__main__":
    main()

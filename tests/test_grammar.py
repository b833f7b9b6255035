"""The per-report grammar admits grounded, ordered answers and nothing else, in both dialects."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from llmgraph.core.document import Document, document_from_report
from llmgraph.core.labels import RADGRAPH_LABELS, XL_LABELS
from llmgraph.core.resources import sample_gold_path
from llmgraph.extraction.grammar import (
    any_order_rules,
    candidate_spans,
    near_rules,
    output_schema,
    reach,
    report_rules,
    to_ebnf,
    to_lark,
    within_grammar,
)
from llmgraph.extraction.prompting import example_output
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.validation import load_schema


def test_candidate_spans_follow_the_guidelines():
    doc = document_from_report("r", "FINDINGS: No left pleural effusion. ET tube 2.5 cm above the carina, likely air-filled.")
    texts = [span.text for span in candidate_spans(doc)]
    assert "FINDINGS" not in texts and "No" not in texts and "likely" not in texts and "the" not in texts
    assert {"left", "left pleural", "pleural effusion", "2.5 cm", "carina", "air-filled"} <= set(texts)
    assert "effusion. ET" not in texts and "5" not in texts and "2" not in texts  # no sentence or decimal splits
    assert "left pleural effusion" in texts and "ET tube 2.5 cm above" not in texts  # at most three content words


def test_candidate_spans_reach_longer_entities():
    doc = document_from_report("r", "IMPRESSION: Swan-Ganz catheter in place, tip out of view. Free air under the "
                                    "right hemidiaphragm. Mild-to-moderate effusion in the left lower lobe, 1.9 x 0.6 cm. "
                                    "Lungs are free of consolidation.")
    texts = {span.text for span in candidate_spans(doc)}
    assert {"Swan-Ganz catheter", "in place", "out of view", "Free air", "Mild-to-moderate", "left lower lobe",
            "1.9 x 0.6 cm"} <= texts
    assert not texts & {"effusion in the left", "catheter in", "in the left", "free", "free of consolidation",
                        "IMPRESSION", "place, tip", "6 cm", "1.9 x 0"}


def test_output_schema_is_valid_and_takes_the_label_set():
    Draft202012Validator.check_schema(load_schema("extraction.schema.json"))
    xl = output_schema(XL_LABELS)
    assert xl["properties"]["entities"]["items"]["properties"]["label"]["enum"] == list(XL_LABELS)
    assert load_schema("extraction.schema.json")["properties"]["entities"]["items"]["properties"]["label"]["enum"] \
        == list(RADGRAPH_LABELS)


def _bad_answers(answer: str, doc: Document) -> list[str]:
    entities = json.loads(answer)["entities"]
    bad = [json.dumps({"entities": [{"text": "pneumothorax in the abdomen", "label": "OBS-DP", "relations": []}]})]
    occurrences = [span.text for span in candidate_spans(doc)].count(entities[0]["text"]) if entities else 0
    if len(entities) >= 2 and entities[0]["text"] != entities[-1]["text"]:  # out of report order
        bad.append(json.dumps({"entities": entities[::-1]}, separators=(",", ":")))
    if occurrences == 1:  # a text the report holds once, twice
        bad.append(json.dumps({"entities": [entities[0], entities[0]]}, separators=(",", ":")))
    bad.append(answer.replace('"label":"', '"label":"X', 1))
    overlapping = next((span for span in candidate_spans(doc) if span.start < doc.entities[0].start_ix <= span.end),
                       None) if doc.entities else None
    if overlapping is not None:  # a span that ends inside the first entity, then that entity
        first = {"text": overlapping.text, "label": "OBS-DP", "relations": []}
        bad.append(json.dumps({"entities": [first, *entities]}, ensure_ascii=False, separators=(",", ":")))
    return bad


@pytest.fixture(scope="module")
def gold():
    return [within_grammar(doc) for doc in read_radgraph(sample_gold_path())]


def test_xgrammar_accepts_gold_answers_and_rejects_others(gold, tokenizer):
    import xgrammar

    compiler = xgrammar.GrammarCompiler(xgrammar.TokenizerInfo.from_huggingface(tokenizer))
    for doc in gold:
        compiled = compiler.compile_grammar(to_ebnf(report_rules(doc, RADGRAPH_LABELS)))
        answer = example_output(doc)
        matcher = xgrammar.GrammarMatcher(compiled)
        assert matcher.accept_string(answer) and matcher.is_completed(), doc.id
        for bad in _bad_answers(answer, doc):
            matcher = xgrammar.GrammarMatcher(compiled)
            assert not (matcher.accept_string(bad) and matcher.is_completed()), (doc.id, bad)


def test_llguidance_accepts_gold_answers_and_rejects_others(gold, tokenizer):
    import llguidance
    import llguidance.hf

    ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)
    for doc in gold:
        grammar = llguidance.LLMatcher.grammar_from_lark(to_lark(report_rules(doc, RADGRAPH_LABELS)))
        answer = example_output(doc)
        matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
        assert not matcher.get_error(), matcher.get_error()
        assert matcher.consume_tokens(ll_tokenizer.tokenize_str(answer)) and matcher.is_accepting(), doc.id
        for bad in _bad_answers(answer, doc):
            matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
            assert not (matcher.consume_tokens(ll_tokenizer.tokenize_str(bad)) and matcher.is_accepting()), bad


def test_the_grammar_reaches_the_gold(tmp_path):
    """The per-report grammar can produce (nearly) every gold entity and relation: what it cuts is counted."""
    from llmgraph.io.synth import synth_documents

    sample = reach(read_radgraph(sample_gold_path()))
    assert sample.entity_reach >= 0.995 and sample.relation_reach >= 0.99, (sample.missed, sample.relation_reach)
    synthetic = reach(synth_documents(300, seed=3))
    assert synthetic.entity_reach >= 0.99 and synthetic.relation_reach >= 0.99, synthetic.missed
    assert sum(sample.missed.values()) == sample.entities - sample.reachable_entities


def test_radgraph_xl_labels_in_the_grammar(gold, tokenizer):
    import llguidance
    import llguidance.hf

    from llmgraph.core.labels import LabelSet

    ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)
    doc = gold[0].with_labels(LabelSet.RADGRAPH_XL)
    grammar = llguidance.LLMatcher.grammar_from_lark(to_lark(report_rules(doc, XL_LABELS)))
    answer = example_output(doc)
    assert "Anatomy::definitely present" in answer
    matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
    assert matcher.consume_tokens(ll_tokenizer.tokenize_str(answer)) and matcher.is_accepting()
    one_point_oh = example_output(gold[0])
    matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
    assert not (matcher.consume_tokens(ll_tokenizer.tokenize_str(one_point_oh)) and matcher.is_accepting())


_LL_TOKENIZERS: dict = {}


def _accepts(engine: str, tokenizer, rules, text: str) -> bool:
    """Whether the grammar of ``rules`` takes ``text`` whole, in llguidance (Lark) or xgrammar (EBNF)."""
    if engine == "llguidance":
        import llguidance
        import llguidance.hf

        ll_tokenizer = _LL_TOKENIZERS.get(id(tokenizer)) or _LL_TOKENIZERS.setdefault(
            id(tokenizer), llguidance.hf.from_tokenizer(tokenizer))  # building one takes ~0.4 s
        matcher = llguidance.LLMatcher(ll_tokenizer, llguidance.LLMatcher.grammar_from_lark(to_lark(rules)), log_level=0)
        assert not matcher.get_error(), matcher.get_error()
        return bool(matcher.consume_tokens(ll_tokenizer.tokenize_str(text))) and matcher.is_accepting()
    import xgrammar

    compiled = xgrammar.GrammarCompiler(xgrammar.TokenizerInfo.from_huggingface(tokenizer)).compile_grammar(
        to_ebnf(rules))
    matcher = xgrammar.GrammarMatcher(compiled)
    return matcher.accept_string(text) and matcher.is_completed()


@pytest.fixture(scope="module")
def gold_chunks():
    """The gold answers of every 30-word chunk (extraction's default) of the sample and long gold sets."""
    from llmgraph.extraction.chunking import annotated_chunks

    docs = [*read_radgraph(sample_gold_path()), *read_radgraph(sample_gold_path().with_name("long_gold.json"))]
    return [within_grammar(chunk) for doc in docs for chunk in annotated_chunks(doc, 30)[0]]


@pytest.mark.parametrize("engine", ["llguidance", pytest.param("xgrammar", marks=pytest.mark.slow)])
def test_the_near_and_any_order_grammars_take_every_gold_chunk(engine, gold_chunks, tokenizer):
    """report-near (each entity within NEAR_WINDOW tokens of the last) and report-any take the gold answer of
    every chunk of the sample and long gold: the window was chosen so."""
    for doc in gold_chunks[::3] if engine == "xgrammar" else gold_chunks:  # xgrammar compiles ~10x slower
        answer = example_output(doc)
        assert _accepts(engine, tokenizer, near_rules(doc, RADGRAPH_LABELS), answer), (doc.id, answer)
        assert _accepts(engine, tokenizer, any_order_rules(doc, RADGRAPH_LABELS), answer), (doc.id, answer)


@pytest.mark.parametrize("engine", ["llguidance", "xgrammar"])
def test_what_each_per_report_grammar_refuses(engine, tokenizer):
    """The ordered grammar refuses going back; report-near also refuses a jump past NEAR_WINDOW tokens when a
    candidate starts nearer; report-any takes any order but only the report's spans, and at most
    max_entities of them."""
    filler = " ".join(["stable appearance"] * 12)
    doc = document_from_report("r", f"Small left effusion. {filler}. Cardiomegaly.")

    def answer(*texts: str) -> str:
        return json.dumps({"entities": [{"text": text, "label": "OBS-DP", "relations": []} for text in texts]},
                          separators=(",", ":"))

    in_order, far, reversed_order = answer("effusion", "stable"), answer("effusion", "Cardiomegaly"), \
        answer("Cardiomegaly", "effusion")
    assert _accepts(engine, tokenizer, report_rules(doc, RADGRAPH_LABELS), far)
    assert not _accepts(engine, tokenizer, report_rules(doc, RADGRAPH_LABELS), reversed_order)
    assert _accepts(engine, tokenizer, near_rules(doc, RADGRAPH_LABELS), in_order)
    assert not _accepts(engine, tokenizer, near_rules(doc, RADGRAPH_LABELS), far)
    assert not _accepts(engine, tokenizer, near_rules(doc, RADGRAPH_LABELS), answer("Cardiomegaly"))  # first too far
    assert _accepts(engine, tokenizer, any_order_rules(doc, RADGRAPH_LABELS), reversed_order)
    assert not _accepts(engine, tokenizer, any_order_rules(doc, RADGRAPH_LABELS), answer("pleural effusion"))
    assert _accepts(engine, tokenizer, any_order_rules(doc, RADGRAPH_LABELS, max_entities=2), answer("effusion", "effusion"))
    assert not _accepts(engine, tokenizer, any_order_rules(doc, RADGRAPH_LABELS, max_entities=2),
                        answer("effusion", "effusion", "effusion"))
    empty = document_from_report("e", "No.")
    for rules in (near_rules(empty, RADGRAPH_LABELS), any_order_rules(empty, RADGRAPH_LABELS)):
        assert _accepts(engine, tokenizer, rules, '{"entities":[]}')


def test_near_window_jumps_to_the_nearest_candidate_when_none_is_near(tokenizer):
    """Where no candidate starts within the window, the next entity may start at the nearest one after it."""
    doc = document_from_report("r", "Effusion. " + " ".join(["the"] * 30) + " cardiomegaly.")
    answer = json.dumps({"entities": [{"text": "Effusion", "label": "OBS-DP", "relations": []},
                                      {"text": "cardiomegaly", "label": "OBS-DP", "relations": []}]},
                        separators=(",", ":"))
    assert _accepts("llguidance", tokenizer, near_rules(doc, RADGRAPH_LABELS), answer)

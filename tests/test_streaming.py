"""Streaming: RadGraph files read entry by entry and scored report by report, in memory that does
not grow with the file, with the documents, errors and numbers of reading the files whole."""

from __future__ import annotations

import json
import math
import random
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.errors import InputError
from llmgraph.core.labels import ALL_LABELS, RADGRAPH_LABELS, RELATION_TYPES, LabelSet
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation import bootstrap
from llmgraph.evaluation.bootstrap import bootstrap_blocks, resampled_metrics
from llmgraph.evaluation.prediction_sources import FilePredictions
from llmgraph.evaluation.scores import ScoreTable, prf
from llmgraph.evaluation.scoring import _scores_of_lists, evaluate, evaluate_files
from llmgraph.evaluation.significance import paired_bootstrap
from llmgraph.io import json_stream
from llmgraph.io.inputs import iter_documents
from llmgraph.io.radgraph import documents_from_raw
from llmgraph.io.radgraph_reader import RadGraphFile, iter_radgraph, read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.synth import synth_documents
from llmgraph.io.text_files import parse_json, read_text
from llmgraph.io.validation import (
    _document_validator,
    check_document,
    check_document_one_by_one,
    check_schema,
    schema_accepts,
)

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Read .json files 7 bytes at a time: every token, multi-byte character and entry crosses a piece boundary."""
    monkeypatch.setattr(json_stream, "CHUNK_BYTES", 7)


def perturbed(doc: Document, rng: random.Random) -> Document:
    """A prediction near ``doc``: entities dropped or relabelled, a spurious one, relations kept between kept ones."""
    entities = [replace(e, label=rng.choice(RADGRAPH_LABELS)) if rng.random() < 0.2 else e
                for e in doc.entities if rng.random() > 0.15]
    if rng.random() < 0.5:
        entities.append(Entity("p1", doc.tokens[0], rng.choice(RADGRAPH_LABELS), 0, 0))
    kept = {e.id for e in entities}
    relations = [r for r in doc.relations if r.source in kept and r.target in kept and rng.random() < 0.8]
    return replace(doc, entities=entities, relations=relations, data_source=None)


def with_annotator(doc: Document, annotator: str) -> Document:
    return replace(doc, annotator=annotator)


def odd_text_documents() -> list[Document]:
    """Reports whose text is not ASCII (byte offsets differ from character offsets)."""
    texts = ["Épanchement pleural gauche .", "肺 结节 2.3 cm .", "mass \ud83d here 😀 .", 'quote " and \\ slash .']
    return [Document(f"odd-{i}", text, [Entity("1", text.split()[0], "OBS-DP", 0, 0)], [], modality="CT",
                     source_text=text + "\u2028", token_offsets=[(0, 1)] * len(text.split()))
            for i, text in enumerate(texts)]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """RadGraph files of every flavour: the sample set, synthetic reports as .json and .jsonl, test
    files with two labelers, predictions (same order, shuffled with some missing and extra, XL labels)."""
    folder = tmp_path_factory.mktemp("files")
    gold = [*synth_documents(150, seed=3), *odd_text_documents()]
    rng = random.Random(5)
    pred = [perturbed(doc, rng) for doc in gold]
    shuffled = [doc for i, doc in enumerate(pred) if i % 9] + [replace(pred[0], id="extra")]
    random.Random(1).shuffle(shuffled)
    labeled = [annotated for first, second in zip(gold[:40], pred[:40])
               for annotated in (with_annotator(first, "labeler_1"), with_annotator(second, "labeler_2"))]
    labeled_lines = labeled[:]
    random.Random(2).shuffle(labeled_lines)  # a report's two labelers far apart
    paths = {"sample": sample_gold_path()}
    for name, docs, suffix in (("gold", gold, ".json"), ("gold_lines", gold, ".jsonl"), ("pred", pred, ".json"),
                               ("shuffled", shuffled, ".jsonl"), ("test", labeled, ".json"),
                               ("test_lines", labeled_lines, ".jsonl"),
                               ("pred_xl", [doc.with_labels(LabelSet.RADGRAPH_XL) for doc in pred], ".json")):
        paths[name] = folder / f"{name}{suffix}"
        write_radgraph(docs, paths[name])
    return paths


def read_whole(path: Path, labeler: str | None) -> list[Document]:
    """A valid file read the way llmgraph read files before it streamed them: all of it at once."""
    text = read_text(path)
    if path.suffix == ".jsonl":
        rows = [parse_json(line) for line in text.split("\n") if line.strip()]
        raws = [(row["id"], row) for row in rows]
    else:
        raws = list(parse_json(text).items())
    docs = [doc for doc_id, raw in raws for doc in documents_from_raw(doc_id, raw)]
    if labeler == "both" or not any(doc.annotator for doc in docs):
        return docs
    return [doc for doc in docs if doc.annotator == f"labeler_{labeler}"]


# --- reading -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, labelers", [("sample", [None]), ("gold", [None]), ("gold_lines", [None]),
                                            ("test", ["1", "2", "both"]), ("test_lines", ["1", "2", "both"])])
def test_streamed_reading_equals_whole_reading(files, tiny_chunks, name, labelers):
    for labeler in labelers:
        expected = read_whole(files[name], labeler)
        assert read_radgraph(files[name], labeler) == expected
        assert list(iter_documents(files[name], labeler)) == expected


def test_entries_are_found_again_by_their_byte_offset(files, tiny_chunks):
    """The offsets count bytes (not characters) from the file's start, past multi-byte characters."""
    for name in ("gold", "gold_lines", "test"):
        reader = RadGraphFile(files[name], "both")
        entries = list(reader.entries())
        assert len(entries) >= 40
        for offset, docs in entries[::7] + entries[-4:]:
            assert reader.documents_at(offset) == docs


def test_a_file_is_read_as_it_is_needed(tmp_path):
    """A bad entry at the end of the file is reported when the reading reaches it, after the good ones."""
    path = tmp_path / "late_error.json"
    path.write_text(json.dumps({"r1": {"text": "a b", "entities": {}}, "r2": {"text": "c", "entities": {}},
                                "r3": {"text": "", "entities": {}}}), encoding="utf-8")
    docs = iter_documents(path)
    assert next(docs).id == "r1" and next(docs).id == "r2"
    with pytest.raises(InputError) as raised:
        next(docs)
    assert str(raised.value) == f"{path}: report r3: empty text"


def test_reading_ahead_gives_the_same_documents_and_errors(files, tmp_path):
    """A helper process reading the file changes nothing the caller sees, errors included."""
    for name in ("gold", "test_lines"):
        assert list(iter_radgraph(files[name], "both", read_ahead=True)) == read_radgraph(files[name], "both")
    assert list(iter_documents(files["sample"], read_ahead=True)) == read_radgraph(files["sample"])
    bad = tmp_path / "bad.json"
    entries = {f"r{i}": {"text": "small effusion", "entities": {}} for i in range(300)}
    bad.write_text(json.dumps(entries | {"late": {"text": " ", "entities": {}}}), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        list(iter_documents(bad, read_ahead=True))
    assert str(raised.value) == f"{bad}: report late: empty text"
    gold = files_with(tmp_path, "gold.json", [Document(f"r{i}", "small effusion") for i in range(300)])
    with pytest.raises(InputError) as raised:  # the predictions are read by the helper
        evaluate_files(gold, bad)
    assert str(raised.value) == f"{bad}: report late: empty text"
    partial = iter_radgraph(files["gold"], read_ahead=True)
    assert next(partial).id == "synth-000001"
    partial.close()  # a reader that stops early stops its helper


BASE_COLLECTION = {
    "r1": {"text": "Small left effusion .", "entities": {"1": {"tokens": "effusion", "label": "OBS-DP", "start_ix": 2,
                                                                "end_ix": 2, "relations": [["modify", "1"]]}},
           "data_source": "é中", "source_text": "Small\nleft effusion.", "token_offsets": [[0, 5], [6, 10], [11, 19],
                                                                                        [19, 20]]},
    "r2": {"text": "No \"quoted\" \\ pneumothorax", "labeler_1": {"entities": {}}, "labeler_2": {"entities": {}},
           "n": [1.5, -2, 1e300, True, None]},
    "r3": {"text": "x", "entities": {}},
}
SYNTAX_INSERTS = ["{", "}", "[", "]", ",", ":", '"', "\\", "x", "1", "-", "e", " ", "\n", "é", "\u2028", "nul", '"r1"']


def _whole_entries(path: Path) -> tuple[dict, tuple[str, ...]]:
    """A collection as reading it whole gave it (and its errors): its entries and the ids it repeats."""
    collection = parse_json(read_text(path), path)
    if not isinstance(collection, dict):
        raise InputError(f"expected a JSON object mapping report ids to documents, found {type(collection).__name__}",
                         path)
    return dict(collection), getattr(collection, "duplicates", ())


def _streamed_entries(path: Path) -> tuple[dict, tuple[str, ...]]:
    entries = [(doc_id, raw) for _, doc_id, raw in json_stream._json_entries(path)]
    seen: set[str] = set()
    return dict(entries), tuple(doc_id for doc_id, _ in entries if doc_id in seen or seen.add(doc_id))


def _outcome(read):
    try:
        return read()
    except InputError as error:
        return str(error)


@settings(max_examples=300, **SETTINGS)
@given(indent=st.sampled_from([None, 1, 2]), cut=st.floats(0, 1), action=st.sampled_from(["cut", "delete", "insert"]),
       insert=st.sampled_from(SYNTAX_INSERTS), chunk=st.sampled_from([1, 3, 7, 64, 1 << 20]))
def test_json_errors_are_those_of_reading_the_whole_file(tmp_path_factory, indent, cut, action, insert, chunk):
    """Broken JSON gives the message ``json`` gives for the whole file, at the same line and column,
    whatever the piece size; intact JSON gives the same entries."""
    text = json.dumps(BASE_COLLECTION, indent=indent, ensure_ascii=False)
    where = int(cut * len(text))
    text = {"cut": text[:where], "delete": text[:where] + text[where + 1:],
            "insert": text[:where] + insert + text[where:]}[action]
    path = tmp_path_factory.mktemp("json") / "mutated.json"
    path.write_text(text, encoding="utf-8")
    original = json_stream.CHUNK_BYTES
    json_stream.CHUNK_BYTES = chunk
    try:
        streamed = _outcome(lambda: _streamed_entries(path))
    finally:
        json_stream.CHUNK_BYTES = original
    assert streamed == _outcome(lambda: _whole_entries(path))


def test_errors_past_the_first_piece_name_the_file_and_report(tmp_path, tiny_chunks):
    good = {f"r{i}": {"text": "é small effusion", "entities": {}} for i in range(5)}
    cases = {
        "duplicate.json": (json.dumps(good)[:-1] + ', "r3": {"text": "a", "entities": {}}}').encode(),
        "bad_doc.json": json.dumps(good | {"r9": {"text": "a", "entities": {"1": {"tokens": "b", "label": "OBS-DP",
                                   "start_ix": 0, "end_ix": 0, "relations": []}}}}).encode(),
        "latin1.json": json.dumps(good, ensure_ascii=False).encode()[:-2] + ', "x": "\xe9"}}'.encode("latin-1"),
        "bom_latin1.json": b"\xef\xbb\xbf" + json.dumps(good, ensure_ascii=False).encode()[:-1] + b', "y\xe9": 1}',
    }
    expected = {"duplicate.json": "report r3: duplicate report id",
                "bad_doc.json": "report r9: entity 1: tokens 'b' do not match the text there ('a')"}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError) as raised:
            read_radgraph(path)
        message = str(raised.value)
        assert "\n" not in message and message.startswith(f"{path}: "), message
        if name in expected:
            assert message == f"{path}: {expected[name]}"
        else:  # the offset is the bad byte's place in the file, BOM included
            offset = data.index(b"\xe9")
            assert message == f"{path}: not UTF-8 text (byte 0xe9 at offset {offset})"


def test_labeler_choice_keeps_its_checks_while_streaming(tmp_path):
    lines = tmp_path / "mixed.jsonl"
    rows = [{"id": "a", "text": "x", "entities": {}}, {"id": "a", "text": "x", "entities": {}, "annotator": "labeler_1"}]
    lines.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_radgraph(lines, "1")
    assert str(raised.value) == f"{lines}: report a: has a document without an annotator as well as labeler_1 annotations"
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"a": {"text": "x", "entities": {}}}), encoding="utf-8")
    assert [doc.id for doc in read_radgraph(plain, "7")] == ["a"]  # no labelers in the file: no choice to make


# --- the fast checks agree with the slow ones ----------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-3, 40) | st.sampled_from([0.0, 1.0, 2.5, -1.0, 1e300, math.inf])
           | st.text(max_size=3))
indices = st.integers(0, 9) | st.integers(-2, 9) | st.sampled_from([0.0, 3.0, 1.5, -0.0, True, False, "1", None])
labels = st.sampled_from(ALL_LABELS) | st.sampled_from(["OBS-X", "", "obs-dp"]) | scalars
relations = (st.tuples(st.sampled_from([*RELATION_TYPES, "causes"]) | scalars, st.text(max_size=2) | scalars).map(list)
             | st.lists(st.sampled_from(RELATION_TYPES) | scalars, max_size=3) | scalars)


@st.composite
def some_of(draw, required: dict, optional: dict):
    """A dict of ``required`` (each possibly left out) and some ``optional`` fields."""
    value = draw(st.fixed_dictionaries(required, optional=optional))
    for key in draw(st.lists(st.sampled_from(sorted(value) or ["x"]), max_size=1)):
        value.pop(key, None)
    return value


unit_scores = st.floats(-0.5, 1.5) | st.sampled_from([0, 1, 0.5, math.nan, True]) | scalars
entity_values = some_of({"tokens": st.text(min_size=1, max_size=3) | scalars, "label": labels, "start_ix": indices,
                         "end_ix": indices, "relations": st.lists(relations, max_size=3) | scalars},
                        {"extra": scalars, "score": unit_scores,
                         "relation_scores": st.lists(unit_scores, max_size=3) | scalars})
entity_blocks = st.dictionaries(st.text(max_size=2), entity_values, max_size=4) | scalars
offsets = st.lists(st.lists(indices, min_size=0, max_size=3) | st.tuples(indices, indices).map(list) | scalars,
                   max_size=5) | scalars
raw_documents = some_of(
    {"text": st.text(max_size=5) | scalars, "entities": entity_blocks},
    {"id": st.text(max_size=3) | scalars, "annotator": st.text(max_size=3) | scalars,
     "labeler_1": some_of({"entities": entity_blocks}, {"data_source": scalars, "data_split": scalars}) | scalars,
     "labeler_2": some_of({"entities": entity_blocks}, {"data_split": scalars}) | scalars,
     "data_source": scalars, "data_split": scalars, "modality": scalars, "source_text": scalars,
     "token_offsets": offsets, "unknown": scalars}) | scalars


@settings(max_examples=600, **SETTINGS)
@given(raw_documents)
def test_fast_schema_check_accepts_exactly_what_jsonschema_accepts(raw):
    schema_errors = list(_document_validator().iter_errors(raw))
    assert schema_accepts(raw) == (not schema_errors)
    if schema_errors:  # jsonschema still words the message
        with pytest.raises(InputError):
            check_schema(raw)
    else:
        check_schema(raw)


@st.composite
def documents(draw) -> Document:
    """Documents made in code, valid or not: spans in or out of the text, repeated ids, mixed label
    sets, relations to missing entities, offsets of any count and place."""
    tokens = draw(st.lists(st.sampled_from(["a", "bb", "c", "é"]), max_size=6))
    ids = draw(st.lists(st.sampled_from(["1", "2", "3"]), max_size=4))
    entities = []
    for entity_id in ids:
        start = draw(st.integers(-1, len(tokens)))
        end = draw(st.integers(start - 1, len(tokens)))
        text = " ".join(tokens[max(start, 0):end + 1]) if draw(st.booleans()) else draw(st.sampled_from(["a", "x"]))
        entities.append(Entity(entity_id, text, draw(st.sampled_from([*RADGRAPH_LABELS, "Anatomy::uncertain"])),
                               start, end))
    links = [Relation("modify", draw(st.sampled_from(["1", "2", "9"])), draw(st.sampled_from(["1", "2", "9"])))
             for _ in range(draw(st.integers(0, 2)))]
    source = draw(st.none() | st.text(max_size=8))
    offsets = draw(st.none() | st.lists(st.tuples(st.integers(-1, 9), st.integers(-1, 9)), max_size=7))
    return Document("r", " ".join(tokens), entities, links, source_text=source, token_offsets=offsets)


def _check_outcome(check, doc: Document) -> str | None:
    try:
        check(doc)
    except Exception as error:  # noqa: BLE001  (an unknown label is a ValueError in both)
        return f"{type(error).__name__}: {error}"
    return None


@settings(max_examples=600, **SETTINGS)
@given(documents())
def test_fast_document_check_reports_what_the_entity_by_entity_check_reports(doc):
    assert _check_outcome(check_document, doc) == _check_outcome(check_document_one_by_one, doc)


# --- scoring files -------------------------------------------------------------------------------

PAIRS = [  # gold, prediction, gold labeler, prediction labeler, label set
    ("gold", "pred", None, None, None),
    ("gold_lines", "shuffled", None, None, None),  # shuffled, missing and extra predictions
    ("gold", "pred_xl", None, None, None),  # RadGraph-XL predictions scored in 1.0 labels
    ("gold", "pred_xl", None, None, LabelSet.RADGRAPH_XL),
    ("test", "test", "1", "2", None),  # the human ceiling of a test file
    ("test_lines", "gold", "both", None, None),  # both labelers of each report (lines far apart) against one prediction
    ("sample", "sample", None, None, None),
]


@pytest.mark.parametrize("gold, pred, gold_labeler, pred_labeler, label_set", PAIRS)
@pytest.mark.parametrize("window", [64, 2])
def test_evaluate_files_equals_evaluate_on_whole_files(files, monkeypatch, gold, pred, gold_labeler, pred_labeler,
                                                       label_set, window):
    monkeypatch.setattr(FilePredictions, "WINDOW", window)  # 2: most predictions are read past or wait
    expected = evaluate(read_radgraph(files[gold], gold_labeler), read_radgraph(files[pred], pred_labeler),
                        label_set, samples=200, seed=3)
    streamed = evaluate_files(files[gold], files[pred], gold_labeler, pred_labeler, label_set, samples=200, seed=3)
    assert json.dumps(streamed) == json.dumps(expected)  # same keys in the same order, same floats
    if pred == "shuffled":
        assert streamed["unmatched_predictions"] == ["extra"] and len(streamed["missing_predictions"]) == len(range(0, 154, 9))
    if gold == "gold":
        assert set(streamed["per_group"]["modality"]) >= {"CT", "CXR"}


def test_a_prediction_of_other_text_names_the_prediction_file(tmp_path):
    gold, pred = tmp_path / "gold.json", tmp_path / "pred.jsonl"
    write_radgraph([Document("r1", "small left pleural effusion .")], gold)
    write_radgraph([Document("r1", "small left pleural effusion")], pred)
    with pytest.raises(InputError) as raised:
        evaluate_files(gold, pred)
    assert str(raised.value) == f"{pred}: report r1: predicted text differs from the gold text at token 4"
    with pytest.raises(InputError) as raised:
        evaluate_files(files_with(tmp_path, "both.json", [with_annotator(Document("r1", "a"), "labeler_1"),
                                                          with_annotator(Document("r1", "a"), "labeler_2")]),
                       files_with(tmp_path, "both_pred.json", [with_annotator(Document("r1", "a"), "labeler_1"),
                                                               with_annotator(Document("r1", "a"), "labeler_2")]),
                       "1", "both")
    assert str(raised.value) == f"{tmp_path / 'both_pred.json'}: report r1: predictions hold a report id twice"
    with pytest.raises(InputError) as raised:
        evaluate_files(files_with(tmp_path, "empty.json", []), pred)
    assert str(raised.value) == f"{tmp_path / 'empty.json'}: no gold reports to evaluate"


def files_with(folder: Path, name: str, docs: list[Document]) -> Path:
    write_radgraph(docs, folder / name)
    return folder / name


# --- the bootstrap, in blocks, draws what the whole matrix drew ---------------------------------------

def whole_matrix_values(scores: ScoreTable, samples: int, seed: int) -> dict[str, np.ndarray]:
    """What llmgraph computed before the bootstrap ran in blocks: all resampling weights at once."""
    n = scores.n_reports
    draws = np.random.default_rng(seed).integers(0, n, size=(samples, n))
    weights = np.apply_along_axis(np.bincount, 1, draws, minlength=n).astype(float)
    values = {}
    for index, metric in enumerate(scores.metrics):
        tp, fp, fn = (weights @ scores.counts[:, 3 * index:3 * index + 3].astype(float)).T
        values[f"{metric}_precision"], values[f"{metric}_recall"], values[f"{metric}_f1"] = prf(tp, fp, fn)
    total = np.maximum(weights.sum(axis=1), 1)
    for name, rewards in scores.rewards.items():
        values[name] = weights @ rewards / total
    return values


@pytest.mark.parametrize("n_reports", [1, 2, 7, 300])
def test_bootstrap_blocks_give_the_numbers_of_the_whole_matrix(files, monkeypatch, n_reports):
    monkeypatch.setattr(bootstrap, "BOOTSTRAP_BLOCK_BYTES", 16 * 40 * n_reports)  # blocks of 40 samples
    gold = read_radgraph(files["gold"])[:n_reports]
    rng = random.Random(n_reports)
    scores = _scores_of_lists(gold, [perturbed(doc, rng) for doc in gold], None)[0]
    samples = 960  # split over up to 8 BLAS threads in multiples of 4 rows, as the blocks sum them
    expected = whole_matrix_values(scores, samples, seed=11)
    sampled, = resampled_metrics([scores], samples, seed=11)
    assert list(sampled) == list(expected)
    for name, values in expected.items():
        assert np.array_equal(sampled[name], values), name


def test_paired_bootstrap_keeps_its_numbers(files):
    gold = read_radgraph(files["gold"])[:120]
    first = [perturbed(doc, random.Random(1)) for doc in gold]
    second = [perturbed(doc, random.Random(2)) for doc in gold]
    result = paired_bootstrap(gold, first, second, samples=960, seed=4)
    scores = [_scores_of_lists(gold, pred, None)[0] for pred in (first, second)]
    sampled = [whole_matrix_values(s, 960, 4) for s in scores]
    tail = (1 - 0.95) / 2 * 100  # as paired_bootstrap computes it (not quite 2.5)
    for metric, test in result.items():
        differences = sampled[0][metric] - sampled[1][metric]
        low, high = np.percentile(differences, [tail, 100 - tail])
        assert test["ci"] == [float(low), float(high)]
        assert test["p_value"] == min(1.0, 2 * min(float(np.mean(differences <= 0)), float(np.mean(differences >= 0))))


def test_a_bootstrap_block_fits_its_budget_at_any_size():
    """At 50,000 reports the whole matrix of 1,000 resamples took 400 MB (800 MB with the draws)."""
    block = next(bootstrap_blocks(50_000, 1000, 0))
    assert block.shape == (bootstrap.BOOTSTRAP_BLOCK_BYTES // (16 * 50_000) // 4 * 4, 50_000)
    assert block.nbytes <= bootstrap.BOOTSTRAP_BLOCK_BYTES // 2


# --- memory ------------------------------------------------------------------------------------

def small_documents(count: int) -> list[Document]:
    template = Document("", "No focal consolidation . Small left effusion .",
                        [Entity("1", "consolidation", "OBS-DA", 2, 2), Entity("2", "focal", "OBS-DA", 1, 1),
                         Entity("3", "effusion", "OBS-DP", 6, 6), Entity("4", "left", "ANAT-DP", 5, 5)],
                        [Relation("modify", "2", "1"), Relation("located_at", "3", "4")], modality="CXR",
                        data_source="synthetic")
    return [replace(template, id=f"report-{index:06d}") for index in range(count)]


def traced_peak(run) -> int:
    """Peak bytes Python allocates while ``run`` runs."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def sized_files(tmp_path_factory) -> dict[tuple[int, str], Path]:
    folder = tmp_path_factory.mktemp("sized")
    paths = {}
    for count in (1_000, 4_000):
        for suffix in (".json", ".jsonl"):
            paths[count, suffix] = folder / f"reports_{count}{suffix}"
            write_radgraph(small_documents(count), paths[count, suffix])
    return paths


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_reading_does_not_hold_the_documents(sized_files, suffix, monkeypatch):
    monkeypatch.setattr(json_stream, "CHUNK_BYTES", 1 << 15)  # both files many pieces long
    """Reading 3,000 more entries costs only their ids (kept to find a duplicate), not the documents."""
    peaks = {count: traced_peak(lambda: sum(1 for _ in iter_radgraph(sized_files[count, suffix])))
             for count in (1_000, 4_000)}
    per_entry = (peaks[4_000] - peaks[1_000]) / 3_000
    held = traced_peak(lambda: read_radgraph(sized_files[1_000, suffix])) / 1_000
    assert per_entry < 250, per_entry
    assert held > 5 * per_entry  # what a (small) document in memory costs, for scale


def test_evaluating_does_not_hold_the_documents(sized_files, monkeypatch):
    monkeypatch.setattr(json_stream, "CHUNK_BYTES", 1 << 15)
    """Per report, evaluate_files keeps the ids (duplicate checks), a row of counts and three rewards."""
    peaks = {count: traced_peak(lambda: evaluate_files(sized_files[count, ".json"], sized_files[count, ".jsonl"],
                                                       samples=0))
             for count in (1_000, 4_000)}
    per_report = (peaks[4_000] - peaks[1_000]) / 3_000
    assert per_report < 500, per_report

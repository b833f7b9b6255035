"""The review loop without a running tool: brat and Label Studio files written and read back (every sample
gold document round-trips exactly; hand edits come back as made), the selection of reports, the
`review` and `agreement` commands, and every bad input the issue names."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from llmgraph.cli.app import app
from llmgraph.core.document import Document, Entity, Relation, display_text
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.core.resources import resource, sample_gold_path
from llmgraph.io.brat import annotation_conf, brat_type, from_brat, to_brat
from llmgraph.io.label_studio import labeling_config, read_export, to_task
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.synth import synth_documents
from llmgraph.review.export import export_review
from llmgraph.review.importing import import_review
from llmgraph.review.select import Selection, agreement, select

runner = CliRunner()
GOLD = read_radgraph(sample_gold_path())
LONG = read_radgraph(resource("eval/data/long_gold.json"))


def everything(docs: list[Document]) -> Selection:
    return Selection("random", len(docs), seed=0)


@pytest.mark.parametrize("docs", [GOLD, LONG, list(synth_documents(12, seed=3)),
                                  [d.with_labels(LabelSet.RADGRAPH_XL) for d in synth_documents(6, seed=4)]],
                         ids=["sample", "long", "synthetic", "synthetic-xl"])
def test_brat_round_trips_every_document_exactly(docs, tmp_path):
    export_review(docs, tmp_path / "brat", "brat", everything(docs), "gold", {})
    imported = import_review(tmp_path / "brat")
    assert {doc.id: doc for doc in imported.docs} == {doc.id: doc for doc in docs}
    assert imported.counts["reports imported"] == len(docs) and set(imported.counts) == {"reports imported"}


@pytest.mark.parametrize("docs", [GOLD, LONG, list(synth_documents(12, seed=3))], ids=["sample", "long", "synthetic"])
def test_label_studio_predictions_accepted_as_they_are_round_trip(docs):
    tasks = [to_task(doc, "gold") for doc in docs]
    export = [{"id": number, "data": task["data"], "predictions": task["predictions"],
               "annotations": [{"id": number, "completed_by": 1, "result": task["predictions"][0]["result"],
                                "was_cancelled": False, "updated_at": "2026-12-07T10:00:00Z"}]}
              for number, task in enumerate(json.loads(json.dumps(tasks)), 1)]
    imported = read_export(export, "export.json")
    assert {doc.id: doc for doc in imported.docs} == {doc.id: doc for doc in docs}


def test_label_studio_files_carry_scores_labels_and_relations():
    doc = GOLD[0]
    scored = replace(doc, entities=[replace(e, score=0.5 + i / 100) for i, e in enumerate(doc.entities)],
                     relations=[replace(r, score=0.25) for r in doc.relations])
    task = to_task(scored, "fine-tuned")
    prediction = task["predictions"][0]
    regions = [item for item in prediction["result"] if item["type"] == "labels"]
    links = [item for item in prediction["result"] if item["type"] == "relation"]
    text = task["data"]["text"]
    assert prediction["model_version"] == "fine-tuned" and len(regions) == len(doc.entities)
    assert [r["score"] for r in regions] == [e.score for e in scored.entities]
    assert all(text[r["value"]["start"]:r["value"]["end"]] == r["value"]["text"] for r in regions)
    assert [(link["from_id"], link["to_id"], link["labels"], link["score"]) for link in links] == [
        (f"e{r.source}", f"e{r.target}", [r.type], 0.25) for r in doc.relations]
    assert prediction["score"] == pytest.approx(
        (sum(e.score for e in scored.entities) + 0.25 * len(doc.relations)) / (len(doc.entities) + len(doc.relations)))
    config = labeling_config(["ANAT-DP", "Observation::definitely present"])
    assert '<Label value="Observation::definitely present"/>' in config
    assert all(f'<Relation value="{kind}"/>' in config for kind in ("modify", "located_at", "suggestive_of"))
    assert "Observation__definitely_present" in annotation_conf(("Observation::definitely present",))


def edited(doc: Document) -> tuple[Document, dict]:
    """The four edits a reviewer makes (a deleted entity with its relations, a relabelled one, a moved
    boundary, a new relation), as the expected document and as a description for each tool."""
    kept = [e for e in doc.entities if e.end_ix + 1 < len(doc.tokens)]
    deleted, relabelled, moved = kept[0], kept[1], kept[2]
    assert moved.end_ix + 1 < len(doc.tokens) and all(e.start_ix != moved.end_ix + 1 for e in doc.entities)
    entities = []
    for entity in doc.entities:
        if entity is deleted:
            continue
        if entity is relabelled:
            entity = replace(entity, label="OBS-U" if entity.label != "OBS-U" else "OBS-DP")
        if entity is moved:
            entity = replace(entity, end_ix=entity.end_ix + 1,
                             tokens=" ".join(doc.tokens[entity.start_ix:entity.end_ix + 2]))
        entities.append(entity)
    relations = [r for r in doc.relations if deleted.id not in (r.source, r.target)]
    new = Relation("suggestive_of", relabelled.id, moved.id)
    assert all((r.source, r.target) != (new.source, new.target) for r in relations)
    order = {e.id: i for i, e in enumerate(entities)}
    relations = sorted([*relations, new], key=lambda r: order[r.source])
    return replace(doc, entities=entities, relations=relations), {
        "deleted": deleted, "relabelled": relabelled, "moved": moved, "new": new}


def free_doc() -> Document:
    """A sample gold report whose third entity can grow by a word (a token of two characters or more) no
    entity holds."""
    for doc in GOLD:
        kept = [e for e in doc.entities if e.end_ix + 1 < len(doc.tokens)]
        if (len(kept) > 2 and all(e.start_ix != kept[2].end_ix + 1 for e in doc.entities)
                and len(doc.tokens[kept[2].end_ix + 1]) > 1):
            return doc
    raise AssertionError("no sample report to edit")


def test_hand_edited_ann_imports_as_edited(tmp_path):
    doc = free_doc()
    expected, edits = edited(doc)
    folder = tmp_path / "brat"
    export_review([doc], folder, "brat", everything([doc]), "gold", {})
    ann_path = next(folder.glob("*.ann"))
    text, offsets = display_text(doc)
    lines = []
    for line in ann_path.read_text().splitlines():
        key = line.split("\t")[0]
        if key == f"T{edits['deleted'].id}" or (line.startswith("R") and f"T{edits['deleted'].id}" in line.split()):
            continue
        if key == f"T{edits['relabelled'].id}":
            old = edits["relabelled"].label
            line = line.replace(brat_type(old), "OBS-U" if old != "OBS-U" else "OBS-DP", 1)
        if key == f"T{edits['moved'].id}":
            moved = edits["moved"]
            start, end = offsets[moved.start_ix][0], offsets[moved.end_ix + 1][1] - 1  # stops inside the token
            line = f"{key}\t{brat_type(moved.label)} {start} {end}\t{text[start:end]}"
        lines.append(line)
    new = edits["new"]
    lines += [f"R99\t{new.type} Arg1:T{new.source} Arg2:T{new.target}", "A1\tNegation T1", "#1\tAnnotatorNotes T1\tok"]
    ann_path.write_text("\n".join(lines) + "\n")
    imported = import_review(folder)
    assert imported.docs == [expected]
    assert imported.counts["regions snapped to tokens"] == 1
    assert imported.counts["brat attributes skipped"] == 1 and imported.counts["brat notes skipped"] == 1


def edited_result(result: list[dict], doc: Document) -> list[dict]:
    """A Label Studio annotation result: the prediction ``result`` of ``doc`` with the four edits of
    ``edited`` (the new relation drawn from its target, direction left)."""
    _, edits = edited(doc)
    deleted = f"e{edits['deleted'].id}"
    result = [item for item in json.loads(json.dumps(result))
              if deleted not in (item.get("id"), item.get("from_id"), item.get("to_id"))]
    text, offsets = display_text(doc)
    for item in result:
        if item.get("id") == f"e{edits['relabelled'].id}":
            item["value"]["labels"] = ["OBS-U" if edits["relabelled"].label != "OBS-U" else "OBS-DP"]
        if item.get("id") == f"e{edits['moved'].id}":
            end = offsets[edits["moved"].end_ix + 1][1]
            item["value"] |= {"end": end, "text": text[item["value"]["start"]:end]}
    new = edits["new"]
    return [*result, {"type": "relation", "from_id": f"e{new.target}", "to_id": f"e{new.source}", "direction": "left",
                      "labels": [new.type]}]


def label_studio_export(doc: Document, edit: bool = True, **annotation) -> tuple[list, Document]:
    """A Label Studio export of ``doc``'s task with an annotation: the prediction, with the four edits."""
    task = json.loads(json.dumps(to_task(doc, "system")))
    result = task["predictions"][0]["result"]
    expected = doc
    if edit:
        expected, result = edited(doc)[0], edited_result(result, doc)
    record = {"id": 7, "completed_by": 3, "result": result, "was_cancelled": False,
              "updated_at": "2026-12-07T10:00:00Z"} | annotation
    return [{"id": 1, "data": task["data"], "predictions": task["predictions"], "annotations": [record]}], expected


def test_label_studio_edits_come_back_as_made():
    export, expected = label_studio_export(free_doc())
    assert read_export(export, "x.json").docs == [expected]


def test_entities_with_other_ids_are_numbered_by_place_in_both_tools(tmp_path):
    doc = GOLD[0]
    renamed = {e.id: name for e, name in zip(doc.entities, ["3", "x", *[f"n{i}" for i in range(len(doc.entities))]])}
    odd = replace(doc, entities=[replace(e, id=renamed[e.id]) for e in doc.entities],
                  relations=[replace(r, source=renamed[r.source], target=renamed[r.target]) for r in doc.relations])
    regions = [item["id"] for item in to_task(odd, "s")["predictions"][0]["result"] if item["type"] == "labels"]
    assert regions == [f"e{i}" for i in range(1, len(doc.entities) + 1)]  # no "e3" twice
    assert [line.split("\t")[0] for line in to_brat(odd)[1].splitlines() if line.startswith("T")] == [
        f"T{i}" for i in range(1, len(doc.entities) + 1)]
    (back,) = read_export(label_studio_export(odd, edit=False)[0], "x.json").docs
    assert [(e.label, e.start_ix, e.end_ix) for e in back.entities] == [(e.label, e.start_ix, e.end_ix) for e in doc.entities]
    assert [(r.type, r.source, r.target) for r in back.relations] == [(r.type, r.source, r.target) for r in doc.relations]


def test_label_studio_new_regions_get_new_ids():
    doc = free_doc()
    export, _ = label_studio_export(doc, edit=False)
    text, offsets = display_text(doc)
    free = next(i for i in range(len(doc.tokens)) if all(not e.start_ix <= i <= e.end_ix for e in doc.entities))
    start, end = offsets[free]
    export[0]["annotations"][0]["result"].append({"id": "Xy12abC", "from_name": "label", "to_name": "text",
                                                  "type": "labels", "value": {"start": start, "end": end,
                                                                               "text": text[start:end], "labels": ["OBS-DA"]}})
    (got,) = read_export(export, "x.json").docs
    added = [e for e in got.entities if e.start_ix == free]
    assert added == [Entity(str(max(int(e.id) for e in doc.entities) + 1), doc.tokens[free], "OBS-DA", free, free)]


def test_label_studio_annotators_latest_and_unreviewed():
    doc = free_doc()
    export, expected = label_studio_export(doc)
    first = json.loads(json.dumps(export[0]["annotations"][0]))
    untouched = label_studio_export(doc, edit=False)[0][0]["annotations"][0]
    older = untouched | {"id": 2, "completed_by": 3, "updated_at": "2026-12-06T10:00:00Z"}
    other = untouched | {"id": 3, "completed_by": {"id": 5, "email": "b@example.org"}, "updated_at": "2026-12-05T10:00:00Z"}
    cancelled = untouched | {"id": 4, "was_cancelled": True, "updated_at": "2026-12-08T10:00:00Z"}
    export[0]["annotations"] = [older, first, other, cancelled]
    export.append({"id": 2, "data": export[0]["data"] | {}, "annotations": []})
    latest = read_export(export, "x.json")
    assert latest.docs == [expected]  # the latest that was not cancelled
    assert latest.counts["tasks not reviewed"] == 1 and latest.counts["cancelled annotations skipped"] == 1
    assert read_export(export, "x.json", labeler="b@example.org").docs == [doc]
    both = read_export(export, "x.json", every_annotator=True)
    assert both.annotators == {"labeler_1": "3", "labeler_2": "b@example.org"}
    assert sorted((d.annotator, d == replace(expected, annotator=d.annotator)) for d in both.docs) == [
        ("labeler_1", True), ("labeler_2", False)]


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r[0]["value"].update(labels=["Finding"]), "labels not in RadGraph's or RadGraph-XL's label set: Finding"),
    (lambda r: r[0]["value"].update(text="zzz"), "another version of the report"),
    (lambda r: r.append(r[0] | {"id": "dup"}), "overlap"),
    (lambda r: r.append(r[1] | {}), "two regions are called"),
    (lambda r: r[0]["value"].pop("start"), "has no character start and end"),
    (lambda r: r.append({"type": "relation", "from_id": r[0]["id"], "to_id": r[1]["id"], "direction": "bi",
                         "labels": ["modify"]}), "goes both ways"),
])
def test_label_studio_bad_annotations_are_one_line_errors(change, message):
    export, _ = label_studio_export(free_doc(), edit=False)
    change(export[0]["annotations"][0]["result"])
    with pytest.raises(InputError, match=message) as caught:
        read_export(export, "x.json")
    assert "\n" not in str(caught.value)
    assert "task 1" in str(caught.value) or "x.json" in str(caught.value)


def test_exports_that_hold_no_review_are_refused():
    export, _ = label_studio_export(free_doc(), edit=False)
    minimal = [{"id": 1, "text": export[0]["data"]["text"], "label": []}]  # JSON-MIN
    with pytest.raises(InputError, match="export the project with the JSON format"):
        read_export(minimal, "x.json")
    export[0]["annotations"] = []
    with pytest.raises(InputError, match="no reviewed task: 1 of 1 tasks have no annotation"):
        read_export(export, "x.json")


def test_relations_to_deleted_regions_are_counted_not_dropped_silently():
    export, _ = label_studio_export(free_doc(), edit=False)
    result = export[0]["annotations"][0]["result"]
    gone = next(item for item in result if item["type"] == "relation")["from_id"]
    result[:] = [item for item in result if item.get("id") != gone]
    imported = read_export(export, "x.json")
    assert imported.counts["relations to a deleted region skipped"] >= 1


def test_brat_bad_files(tmp_path):
    doc = free_doc()
    text, ann = to_brat(doc)
    first = ann.splitlines()[0]
    key, middle, covered = first.split("\t")
    kind, start, end = middle.split()
    discontinuous = f"{key}\t{kind} {start} {end};{end} {end}\t{covered}\n"
    for bad, message in [(discontinuous, "discontinuous"), (f"{key}\tFinding {start} {end}\t{covered}\n", "not a RadGraph"),
                         (f"{key}\t{kind} {start} {end}\tzzz\n", "another version"), ("E1\tX:T1\n" + ann, None)]:
        if message is None:
            assert from_brat(doc, text, bad, "r.ann").counts["brat events skipped"] == 1
            continue
        with pytest.raises(InputError, match=message):
            from_brat(doc, text, bad, "r.ann").document()
    with pytest.raises(InputError, match="the .txt differs"):
        from_brat(doc, text + " more", ann, "r.ann")


def test_selection_orders_and_explains():
    docs = [Document("a", "x y", [Entity("1", "x", "OBS-DP", 0, 0, 0.9)]),
            Document("b", "x y", [Entity("1", "x", "OBS-DP", 0, 0, 0.3)]),
            Document("c", "x y", [Entity("1", "x", "OBS-DP", 0, 0, 0.6)])]
    picks = select(docs, Selection("lowest-score", 2))
    assert [p.id for p in picks] == ["b", "c"] and "mean score 0.300" in picks[0].why
    longer = [*docs, Document("d", "x y", [Entity("1", "x", "OBS-DP", 0, 0, 0.7), Entity("2", "y", "OBS-DP", 1, 1, 0.7)])]
    picks = select(longer, Selection("expected-errors", 2))
    assert [p.id for p in picks] == ["b", "d"] and picks[1].value == pytest.approx(0.6) and "0.6 predictions wrong" in picks[1].why
    with pytest.raises(InputError, match="has no scores"):
        select([replace(d, entities=[replace(e, score=None) for e in d.entities]) for d in docs], Selection("lowest-score", 1))
    other = [docs[0], replace(docs[1], entities=[]), docs[2]]
    assert [p.id for p in select(docs, Selection("disagreement", 1, other))] == ["b"]
    assert agreement(docs[0], docs[0]) == 1.0 and agreement(Document("e", "x"), Document("e", "x")) == 1.0
    assert select(docs, Selection("random", 2, seed=5)) == select(docs, Selection("random", 2, seed=5))


def test_review_commands(tmp_path):
    pred = tmp_path / "pred.json"
    write_radgraph([replace(d, entities=[replace(e, score=0.5) for e in d.entities]) for d in GOLD], pred)
    out = tmp_path / "ls"
    result = runner.invoke(app, ["review", "export", str(pred), "-o", str(out), "--to", "label-studio", "-n", "10"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "review.json").read_text())
    assert manifest["count"] == 10 and manifest["select"] == "expected-errors" and len(manifest["reports"]) == 10
    # all scores 0.5: the reports with the most predictions hold the most expected errors
    sizes = {d.id: len(d.entities) for d in GOLD}
    assert [sizes[e["id"]] for e in manifest["reports"]] == sorted(sizes.values(), reverse=True)[:10]
    assert all(entry["why"] for entry in manifest["reports"])
    tasks = json.loads((out / "tasks.json").read_text())
    assert len(tasks) == 10 and tasks[0]["predictions"][0]["model_version"] == "pred"
    again = runner.invoke(app, ["review", "export", str(pred), "-o", str(out), "--to", "brat"])
    assert again.exit_code == 2 and "is not empty" in again.output
    export = [{"id": i, "data": t["data"], "annotations": [{"id": i, "completed_by": 1, "result": t["predictions"][0]["result"]}]}
              for i, t in enumerate(tasks)]
    (tmp_path / "export.json").write_text(json.dumps(export))
    gold = tmp_path / "reviewed.json"
    result = runner.invoke(app, ["review", "import", str(tmp_path / "export.json"), "-o", str(gold)])
    assert result.exit_code == 0, result.output
    by_id = {d.id: d for d in GOLD}
    assert [d.id for d in read_radgraph(gold)] == [t["data"]["llmgraph"]["id"] for t in tasks]
    assert all(d == by_id[d.id] for d in read_radgraph(gold))  # scores are the system's, not the reviewer's
    assert json.loads((tmp_path / "reviewed.json.manifest.json").read_text())["counts"]["reports imported"] == 10
    same = runner.invoke(app, ["review", "import", str(tmp_path / "export.json"), "-o", str(tmp_path / "export.json")])
    assert same.exit_code == 2 and "is also an input" in same.output


def test_agreement_of_two_files(tmp_path):
    half = tmp_path / "b.json"
    write_radgraph([replace(d, entities=d.entities[: len(d.entities) // 2], relations=[]) for d in GOLD], half)
    result = runner.invoke(app, ["agreement", str(sample_gold_path()), str(half), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert scores["entity_precision"] == 1.0 and 0 < scores["entity_f1"] < 1 and scores["relation_f1"] == 0
    alone = runner.invoke(app, ["agreement", str(sample_gold_path())])
    assert alone.exit_code == 2 and "has no labeler_1 and labeler_2 annotations" in alone.output
    two = tmp_path / "two.json"
    write_radgraph([replace(d, annotator=who) for d in GOLD for who in ("labeler_1", "labeler_2")], two)
    result = runner.invoke(app, ["agreement", str(two), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["entity_f1"] == 1.0

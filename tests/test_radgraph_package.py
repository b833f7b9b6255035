"""The adapter for the ``radgraph`` package's models.

The package's weights come from the Hugging Face hub, which this machine cannot reach, so the
model itself cannot run here. These tests cover what the adapter owns: the messages when the
package or its weights are missing, and reading the package's output format (produced here by a
stand-in with the package's interface) into validated documents.
"""

from __future__ import annotations

import sys
import types
from dataclasses import replace

import pytest

from llmgraph.core.document import document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.core.resources import sample_gold_path
from llmgraph.io.radgraph import document_to_raw
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.systems.radgraph_package import RadGraphPackageModel

GOLD = read_radgraph(sample_gold_path())[:3]


class StandIn:
    """The package's ``RadGraph`` interface: texts in, ``{"0": {"text", "entities", ...}}`` out."""

    calls: list[list[str]] = []

    def __init__(self, model_type: str, model_cache_dir: str, cuda: int):
        self.model_type = model_type

    def __call__(self, texts: list[str]) -> dict:
        StandIn.calls.append(texts)
        by_text = {doc.text: doc.with_labels(LabelSet.RADGRAPH_XL) for doc in GOLD}
        out = {}
        for index, text in enumerate(texts):
            raw = document_to_raw(by_text[text])
            out[str(index)] = {"text": text, "entities": raw["entities"], "data_source": None, "data_split": "inference"}
        return out


@pytest.fixture
def package(monkeypatch, tmp_path):
    module = types.ModuleType("radgraph")
    module.RadGraph = StandIn
    monkeypatch.setitem(sys.modules, "radgraph", module)
    StandIn.calls = []
    return tmp_path


def test_a_missing_package_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "radgraph", None)
    with pytest.raises(InputError, match=r"the radgraph package cannot be imported .*pip install radgraph"):
        RadGraphPackageModel("radgraph-xl")


def test_missing_weights_say_where_they_belong_and_how_to_get_them(package):
    with pytest.raises(InputError) as raised:
        RadGraphPackageModel("radgraph-xl", cache_dir=package)
    message = str(raised.value)
    assert f"radgraph model 'radgraph-xl' is not in its cache {package / 'radgraph-xl'}" in message
    assert "RadGraph(model_type='radgraph-xl')" in message


def test_unknown_model_type(package):
    with pytest.raises(InputError, match="unknown radgraph model 'radgraph-xxl'"):
        RadGraphPackageModel("radgraph-xxl", cache_dir=package)


def test_its_output_becomes_validated_documents(package):
    (package / "radgraph-xl").mkdir()
    (package / "radgraph-xl" / "weights.th").write_bytes(b"")
    model = RadGraphPackageModel("radgraph-xl", cache_dir=package)
    empty = document_from_report("empty", "")
    docs = [replace(doc, entities=[], relations=[]) for doc in GOLD] + [empty]
    predicted = model.predict(docs)
    assert StandIn.calls == [[doc.text for doc in GOLD]], "an empty report is never sent (the package reads it as 'None')"
    assert [doc.id for doc in predicted] == [doc.id for doc in docs]
    for doc, gold in zip(predicted, GOLD):
        assert doc.with_labels(LabelSet.RADGRAPH).entities == gold.entities
        assert doc.relations == gold.relations
        assert doc.entities[0].label.startswith(("Anatomy::", "Observation::"))
    assert predicted[-1].entities == []
    assert model.describe()["batch_size"] == 1

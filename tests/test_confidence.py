"""An LLM's confidence: token log-probabilities lined up with the answer's entities and relations,
carried through grounding and chunk merging, recorded by the transformers backend before and after the
grammar."""

from __future__ import annotations

import json
import math

import pytest

from llmgraph.core.document import Document
from llmgraph.extraction.backends.base import Decoding, token_ends
from llmgraph.core.errors import InputError
from llmgraph.extraction.chunking import merge_chunks, split
from llmgraph.extraction.confidence import TokenLogprobs, item_scores
from llmgraph.extraction.ground import ground

ANSWER = ('{"entities":[{"text":"opacity","label":"OBS-DP","relations":[["located_at","left lung"]]},'
          '{"text":"left lung","label":"ANAT-DP","relations":[]}]}')


def tokens_of(text: str, pieces: list[str], logprob_of) -> TokenLogprobs:  # noqa: ANN001
    assert "".join(pieces) == text
    ends, logprobs, at = [], [], 0
    for piece in pieces:
        at += len(piece)
        ends.append(at)
        logprobs.append(logprob_of(piece))
    return TokenLogprobs(ends, logprobs)


def split_answer(text: str) -> list[str]:
    """Tokens as a BPE would cut this answer: punctuation runs and words apart."""
    import re
    return re.findall(r'[A-Za-z_-]+|[^A-Za-z_-]+', text)


def test_each_item_scores_the_tokens_that_wrote_it():
    pieces = split_answer(ANSWER)
    # every token certain but the words of the first entity's text and label, and the relation's type
    uncertain = {"opacity": math.log(0.5), "OBS": math.log(0.8), "located_at": math.log(0.25)}
    tokens = tokens_of(ANSWER, pieces, lambda piece: uncertain.get(piece, 0.0))
    scores = item_scores(ANSWER, json.loads(ANSWER), tokens)
    # "OBS-DP" is cut as one word token "OBS-DP" by split_answer: it is not in the table, so count it certain
    assert scores.entities == [pytest.approx(0.5), pytest.approx(1.0)]
    assert scores.relations == [[pytest.approx(0.25)], []]


def test_the_closing_quote_counts_for_the_span_it_closes():
    text = '{"entities":[{"text":"left","label":"ANAT-DP","relations":[]}]}'
    at = text.index('left"') + len("left")
    pieces = [text[:at], text[at:at + 2], text[at + 2:]]  # '"' + ',' : the token that ends the span
    tokens = TokenLogprobs([at, at + 2, len(text)], [0.0, math.log(0.1), 0.0])
    assert "".join(pieces) == text
    assert item_scores(text, json.loads(text), tokens).entities == [pytest.approx(0.1)]


def test_answers_whose_strings_do_not_line_up_give_no_scores():
    text = '{"entities":[],"entities":[{"text":"a","label":"OBS-DP","relations":[]}]}'  # a repeated key
    tokens = TokenLogprobs([len(text)], [0.0])
    assert item_scores(text, json.loads(text), tokens) is None


class PieceTokenizer:
    """Decodes ids that index a list of pieces."""

    def __init__(self, pieces: list[str]):
        self.pieces = pieces

    def batch_decode(self, rows, skip_special_tokens=True):  # noqa: ANN001
        return ["".join(self.pieces[i] for i in row) for row in rows]

    def decode(self, ids, skip_special_tokens=True):  # noqa: ANN001
        return "".join(self.pieces[i] for i in ids).replace("\ufffd\ufffd", "é")


def test_token_ends_token_by_token_and_for_characters_of_several_tokens():
    assert token_ends(PieceTokenizer(["ab", "c", "de"]), [0, 1, 2], "abcde") == [2, 3, 5]
    # "é" made of two byte tokens (each alone decodes to a replacement character): both end on it, so both
    # count for a span that holds it
    assert token_ends(PieceTokenizer(["x", "\ufffd", "\ufffd", "y"]), [0, 1, 2, 3], "xéy") == [1, 2, 2, 3]


def test_scores_survive_grounding_and_chunk_merging():
    text = "left lung opacity . no effusion ."
    doc = Document("r", text)
    answer = json.loads('{"entities":[{"text":"opacity","label":"OBS-DP","relations":[["located_at","lung"]]},'
                        '{"text":"lung","label":"ANAT-DP","relations":[]},'
                        '{"text":"opacity","label":"OBS-DP","relations":[["located_at","lung"],["located_at","lung"]]}]}')
    from llmgraph.extraction.confidence import ItemScores

    grounded, stats = ground(doc, answer, scores=ItemScores([0.9, 0.7, 0.3], [[0.6], [], [0.5, 0.4]]))
    by_text = {e.tokens: e.score for e in grounded.entities}
    assert by_text == {"lung": 0.7, "opacity": 0.9}  # sorted into report order, each keeps its own score
    assert [r.score for r in grounded.relations] == [0.6]  # the repeat of the same relation is dropped
    assert stats.counts["entities_dropped_duplicate"] == 1
    chunks = split(Document("r", "left lung opacity . no effusion . " * 8), 6)
    assert len(chunks) > 1
    pieces = [(chunk, ground(chunk.doc, answer, scores=ItemScores([0.9, 0.7, 0.3], [[0.6], [], [0.5, 0.4]]))[0])
              for chunk in chunks]
    merged = merge_chunks(Document("r", "left lung opacity . no effusion . " * 8), pieces)
    assert {e.score for e in merged.entities} == {0.9, 0.7} and {r.score for r in merged.relations} == {0.6}


def test_the_recorder_keeps_both_estimators_one_step_at_a_time():
    torch = pytest.importorskip("torch")
    from llmgraph.extraction.backends.transformers import LogprobRecorder

    recorder = LogprobRecorder()
    before, after = recorder.processor("raw"), recorder.processor("allowed")
    prompt = torch.tensor([[5, 6]])
    logits = [torch.tensor([[2.0, 1.0, 0.0, -1.0]]), torch.tensor([[0.0, 0.0, 3.0, 0.0]])]
    mask = torch.tensor([[0.0, -math.inf, 0.0, -math.inf]])
    chosen = []
    ids = prompt
    for step in logits:
        scores = before(ids, step.clone())
        scores = after(ids, scores + mask)  # the grammar allows tokens 0 and 2
        token = int(scores.argmax())
        chosen.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    assert chosen == [0, 2]
    raw = recorder.finish(ids, 2, "raw")[0].tolist()
    allowed = recorder.finish(ids, 2, "allowed")[0].tolist()
    assert raw == pytest.approx([float(torch.log_softmax(logits[0], -1)[0, 0]), float(torch.log_softmax(logits[1], -1)[0, 2])])
    assert allowed == pytest.approx([math.log(math.exp(2) / (math.exp(2) + 1)), math.log(math.exp(3) / (math.exp(3) + 1))])


def test_bad_confidence_settings_are_refused():
    with pytest.raises(InputError, match="confidence 'votes'"):
        Decoding(confidence="votes")


def test_chat_logprobs_of_servers_and_batch_results_line_up():
    from llmgraph.extraction.backends.batch_api import parse_result
    from llmgraph.extraction.confidence import chat_token_logprobs

    text = '{"a":"é"}'
    items = [{"token": '{"a":"', "logprob": -0.1, "bytes": list(b'{"a":"')},
             {"token": "\\xc3", "logprob": -0.2, "bytes": [0xC3]}, {"token": "\\xa9", "logprob": -0.3, "bytes": [0xA9]},
             {"token": '"}', "logprob": 0.0, "bytes": list(b'"}')}]
    tokens = chat_token_logprobs(items, text)  # the token strings do not add up: the bytes do
    assert tokens.ends == [6, 6, 7, 9] and tokens.logprobs == [-0.1, -0.2, -0.3, 0.0]
    assert chat_token_logprobs(None, text) is None and chat_token_logprobs(items[:2], text) is None
    record = {"custom_id": "r1", "response": {"status_code": 200, "body": {
        "choices": [{"message": {"content": text}, "finish_reason": "stop", "logprobs": {"content": items}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4}}}}
    assert parse_result(record)[1].tokens == tokens


def test_servers_are_asked_for_logprobs_and_refuse_raw():
    from llmgraph.extraction.backends.batch_api import request_line
    from llmgraph.extraction.backends.base import GenerationRequest
    from llmgraph.extraction.backends.openai import request_arguments
    from llmgraph.extraction.grammar import Constraint, GrammarMode

    request = GenerationRequest([{"role": "user", "content": "x"}], Constraint(GrammarMode.NONE))
    assert request_arguments(request, "m", Decoding(), True)["logprobs"] is True
    assert "logprobs" not in request_arguments(request, "m", Decoding(confidence="none"), True)
    with pytest.raises(InputError, match="confidence raw needs --backend transformers or vllm"):
        request_line("r", request, "m", Decoding(confidence="raw"), "vllm")

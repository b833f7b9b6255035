"""Long reports in chunks: whole sentences, within one section, of at most ``chunk_words`` words.

A chunk is itself a ``Document`` (its tokens a slice of the report's, its text the report's own
characters), so prompts, per-report grammars, grounding and exemplar rendering work on it unchanged.
``merge`` puts the grounded chunks back into one document with token indices into the report;
``chunk_gold`` cuts an annotated report into annotated chunks (exemplars, training, the oracle check),
counting the relations that would cross chunks.

A correct graph costs about ``GENERATED_TOKENS_PER_WORD`` generated tokens per report word in the
output format (measured on the sample gold with the embedded model's tokenizer), so the default chunk
size never exceeds what fits ``max_tokens`` with a margin, and is at most ``MAX_DEFAULT_CHUNK_WORDS``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from llmgraph.core.document import Document, Entity, Relation, display_text
from llmgraph.extraction.grammar import candidate_spans, is_word, joins
from llmgraph.io.reports import section_headers

GENERATED_TOKENS_PER_WORD = 11  # ~650 answer tokens for a 60-word report
BUDGET_MARGIN = 1.5  # dense passages (lines and tubes, measurements) run up to ~1.4x the mean
MIN_CHUNK_WORDS = 16
# Short chunks also help quality: under the per-report grammar a wrong early token can push a model to a span
# far ahead, and a chunk bounds how far. Measured (eval/results/README.md, bench_finetune_2026-12-02-chunked): the
# fine-tuned embedded model on
# the sample gold, entity/relation F1 0.57/0.25 on whole reports, 0.61/0.27 in chunks of 62 words, 0.74/0.37 of
# 30, 0.77/0.38 of 20; chunks of 30 keep 99.7% of the long gold's relations and 98.9% of the sample's (20: 97%).
MAX_DEFAULT_CHUNK_WORDS = 30
_SENTENCE_END = frozenset({".", "?", "!", ";"})


def default_chunk_words(max_tokens: int) -> int:
    """The default chunk size: ``MAX_DEFAULT_CHUNK_WORDS``, or less when a correct graph of that many words
    would not fit ``max_tokens`` generated tokens with margin."""
    fits = int(max_tokens / GENERATED_TOKENS_PER_WORD / BUDGET_MARGIN)
    return max(MIN_CHUNK_WORDS, min(MAX_DEFAULT_CHUNK_WORDS, fits))


@dataclass(frozen=True)
class Chunk:
    """Tokens ``start .. start + len(doc.tokens) - 1`` of a report, as a document of their own."""

    doc: Document
    start: int
    section: str  # the section it lies in ("" before the first header)
    index: int  # 0-based among the report's chunks
    total: int
    split_in_sentence: bool = False  # cut inside a sentence longer than the budget

    @property
    def words(self) -> int:
        return _word_count(self.doc.tokens)

    @property
    def empty(self) -> bool:
        """Nothing an entity could be: only a header, punctuation or function words (no model call)."""
        return not candidate_spans(self.doc)


def _word_count(tokens: list[str]) -> int:
    return sum(map(is_word, tokens))


def _segments(doc: Document, source: str, offsets: list[tuple[int, int]]) -> list[tuple[str, int, int]]:
    """(section name, first token, end token) of each section; a header belongs to the section it opens, text
    before the first header to a section named "". With chosen sections (``--sections``), those."""
    chosen = doc.meta.get("sections")
    starts = (sorted((span[0], name) for name, span in chosen.items()) if chosen
              else [(start, name) for name, start, _, _ in section_headers(source)])
    bounds = [(0, ""), *starts, (len(source) + 1, "")]
    segments, token = [], 0
    for (_, name), (limit, _) in zip(bounds, bounds[1:]):
        first = token
        while token < len(offsets) and offsets[token][0] < limit:
            token += 1
        if token > first:
            segments.append((name, first, token))
    return segments


def _line_start(source: str, offsets: list[tuple[int, int]], position: int) -> bool:
    """Whether token ``position`` is the first on its line (lines end in \n, \r\n or \r alone)."""
    begin = offsets[position][0]
    return not source[max(source.rfind("\n", 0, begin), source.rfind("\r", 0, begin)) + 1:begin].strip()


def _sentences(tokens: list[str], source: str, offsets: list[tuple[int, int]], first: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans (first token, end token) of tokens ``first .. end - 1``: a sentence ends on . ? ! ; (not
    a decimal point, not the dot of a list number "2.") or before a blank line or a list item."""
    sentences, start = [], first
    for position in range(first, end):
        token, following = tokens[position], position + 1
        if following == end:
            sentences.append((start, end))
            break
        decimal = token == "." and tokens[position - 1].isdigit() and tokens[following].isdigit() \
            and offsets[following][0] == offsets[position][1]
        list_number = token == "." and position > first and tokens[position - 1].isdigit() \
            and _line_start(source, offsets, position - 1)
        gap = source[offsets[position][1]:offsets[following][0]]
        new_item = _line_start(source, offsets, following) and (
            gap.count("\n") > 1 or tokens[following] in ("-", "*", "•")
            or (tokens[following].isdigit() and following + 1 < end and tokens[following + 1] in (".", ")")))
        if (token in _SENTENCE_END and not decimal and not list_number) or new_item:
            sentences.append((start, following))
            start = following
    return sentences


_UNITS = frozenset({"mm", "cm", "m", "ml", "cc", "x"})
_SOFT_BREAK_AFTER = frozenset({",", ";", ":"})
_SOFT_BREAK_BEFORE = frozenset({"and", "with", "without", "which", "but"})


def _can_cut(tokens: list[str], position: int) -> bool:
    """Whether a piece may start at ``position``: a word, not inside "air - filled", "1 . 8" or "2 . 8 x 2 . 3 cm"."""
    previous, token = tokens[position - 1], tokens[position].lower()
    if not is_word(token) or joins(tokens, position - 1):
        return False
    return not ((previous.isdigit() or previous.lower() == "x") and (token in _UNITS or token.isdigit()))


def _pieces(tokens: list[str], first: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """A sentence longer than ``max_words`` words cut into pieces of at most that many: at the last comma or
    conjunction of a piece's second half if there is one, else at its last word boundary that splits no
    hyphenated word or measurement."""
    pieces, start = [], first
    while _word_count(tokens[start:end]) > max_words:
        words, cuts, position = 0, [], start
        for position in range(start, end):
            if not is_word(tokens[position]):
                continue
            if position > start and _can_cut(tokens, position):
                cuts.append((position, words))
            if words == max_words:
                break
            words += 1
        soft = [cut for cut, before in cuts if before >= max_words // 2 and (
            tokens[cut - 1] in _SOFT_BREAK_AFTER or tokens[cut].lower() in _SOFT_BREAK_BEFORE)]
        cut = soft[-1] if soft else cuts[-1][0] if cuts else position
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _sub_document(doc: Document, source: str, offsets: list[tuple[int, int]], first: int, end: int,
                  number: int, section: str) -> Document:
    """Tokens ``first .. end - 1`` as a document: the report's own characters, ``meta`` naming the report
    (``chunk_of``) and the section (what the prompt says of the excerpt)."""
    tokens = doc.tokens[first:end]
    begin = offsets[first][0]
    return Document(id=f"{doc.id}#{number}", text=" ".join(tokens), source_text=source[begin:offsets[end - 1][1]],
                    token_offsets=[(a - begin, b - begin) for a, b in offsets[first:end]], modality=doc.modality,
                    data_source=doc.data_source, data_split=doc.data_split, annotator=doc.annotator,
                    meta={"chunk_of": doc.id, "section": section})


def split(doc: Document, max_words: int) -> list[Chunk]:
    """``doc`` in chunks of whole sentences within one section, each of at most ``max_words`` words (a longer
    sentence is cut at word boundaries); ``max_words`` 0, or a report that fits, gives the report itself."""
    tokens = doc.tokens
    if not tokens or max_words <= 0 or _word_count(tokens) <= max_words:
        return [Chunk(doc, 0, "", 0, 1)]
    source, offsets = display_text(doc)
    spans: list[tuple[str, int, int, bool]] = []
    for name, first, end in _segments(doc, source, offsets):
        current: tuple[int, int] | None = None
        current_words = 0
        for start, stop in _sentences(tokens, source, offsets, first, end):
            words = _word_count(tokens[start:stop])
            if current is not None and current_words + words <= max_words:
                current, current_words = (current[0], stop), current_words + words
                continue
            if current is not None:
                spans.append((name, *current, False))
            if words <= max_words:
                current, current_words = (start, stop), words
                continue
            pieces = _pieces(tokens, start, stop, max_words)
            spans += [(name, a, b, True) for a, b in pieces[:-1]]
            current, current_words = pieces[-1], _word_count(tokens[pieces[-1][0]:pieces[-1][1]])
        if current is not None:
            spans.append((name, *current, False))
    return [Chunk(_sub_document(doc, source, offsets, first, end, number + 1, name), first, name, number, len(spans),
                  cut) for number, (name, first, end, cut) in enumerate(spans)]


def chunk_gold(doc: Document, chunks: list[Chunk]) -> tuple[list[Document], int]:
    """The annotated chunks of an annotated report, and how many of its relations cross chunks (lost).
    An entity lies in the chunk that holds its first token (chunks end between sentences, so within one)."""
    pieces, where = [], {}
    for number, chunk in enumerate(chunks):
        end = chunk.start + len(chunk.doc.tokens)
        inside = [e for e in doc.entities if chunk.start <= e.start_ix < end and e.end_ix < end]
        where.update({e.id: number for e in inside})
        entities = [replace(e, start_ix=e.start_ix - chunk.start, end_ix=e.end_ix - chunk.start) for e in inside]
        pieces.append(replace(chunk.doc, entities=entities, relations=[]))
    lost = 0
    for relation in doc.relations:
        source, target = where.get(relation.source), where.get(relation.target)
        if source is None or source != target:
            lost += 1
            continue
        pieces[source].relations.append(relation)
    return pieces, lost


def annotated_chunks(doc: Document, max_words: int) -> tuple[list[Document], int]:
    """What the extractor sends of an annotated report, annotated: the report itself when it fits, else its
    chunks that get a model call with their share of the gold; and the relations lost across chunks."""
    chunks = split(doc, max_words)
    if len(chunks) == 1:
        return [doc], 0
    pieces, lost = chunk_gold(doc, chunks)
    return [piece for chunk, piece in zip(chunks, pieces) if not chunk.empty], lost


def merge_chunks(doc: Document, pieces: list[tuple[Chunk, Document]]) -> Document:
    """One document for ``doc`` from its grounded chunks: token indices offset into the report's tokens,
    entities numbered 1, 2, ... in report order, relations kept within their chunk."""
    tokens = doc.tokens
    placed: list[tuple[tuple[int, int], Entity, int]] = []
    for number, (chunk, grounded) in enumerate(pieces):
        for entity in grounded.entities:
            span = (entity.start_ix + chunk.start, entity.end_ix + chunk.start)
            placed.append((span, entity, number))
    placed.sort(key=lambda item: item[0])
    ids: dict[tuple[int, str], str] = {}
    entities = []
    for new_id, ((start, end), entity, number) in enumerate(placed, 1):
        ids[(number, entity.id)] = str(new_id)
        entities.append(Entity(str(new_id), " ".join(tokens[start:end + 1]), entity.label, start, end, entity.score))
    relations = [Relation(relation.type, ids[(number, relation.source)], ids[(number, relation.target)], relation.score)
                 for number, (_, grounded) in enumerate(pieces) for relation in grounded.relations]
    relations.sort(key=lambda relation: int(relation.source))
    return replace(doc, entities=entities, relations=relations)


def chunk_counts(chunks: list[Chunk]) -> Counter:
    """What a run counts of a report's chunks."""
    return Counter(chunks=len(chunks), chunk_words=sum(chunk.words for chunk in chunks),
                   chunks_split_in_sentence=sum(chunk.split_in_sentence for chunk in chunks),
                   reports_chunked=int(len(chunks) > 1))


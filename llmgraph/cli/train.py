"""``llmgraph train-span`` and ``llmgraph train-llm``: fine-tune the span baseline or an LLM on gold graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from llmgraph.cli.base import _flag, _labeler_option
from llmgraph.cli.options import Dtype, Method
from llmgraph.cli.settings import _read_training
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.io.outputs import check_output


def _positive(value: float) -> float:
    if value <= 0:
        raise typer.BadParameter(f"{value} is not above 0")
    return value


def train_span_command(
    train: Path = typer.Option(..., "--train", metavar="FILE", help="Gold RadGraph file to train on."),
    dev: Optional[Path] = typer.Option(None, "--dev", metavar="FILE", help="Gold RadGraph file to pick the best epoch on (without one, the last epoch is kept)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="DIR", help="Folder for the trained model."),
    encoder: Optional[str] = typer.Option(None, "--encoder", metavar="DIR", help="Local BERT-like folder (default: all-MiniLM-L6-v2 from its wheel)."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Passes over the training reports."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Reports per optimizer step."),
    learning_rate: float = typer.Option(1e-4, "--lr", callback=_positive, help="Encoder learning rate (the heads learn 20x faster)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Seed of the initialisation and the report order."),
    labeler: Optional[str] = _labeler_option(),
) -> None:
    """Fine-tune the span baseline (entities by BIO tagging, relations by a pair classifier) on CPU or GPU."""
    from llmgraph.io.outputs import check_model_output
    from llmgraph.training.span.predict import CARD as SPAN_CARD
    from llmgraph.training.span.train import train_span

    check_output(output, [train, dev], folder=True)
    check_model_output(output, SPAN_CARD, [("training file", train), ("dev file", dev), ("encoder", encoder)])
    train_docs = _read_training(train, labeler)
    dev_docs = _read_training(dev, labeler) if dev is not None else None
    card = train_span(train_docs, dev_docs, output, encoder=encoder, epochs=epochs, batch_size=batch_size,
                      lr=learning_rate, seed=seed)
    best = card["best"]
    scores = (f"best epoch {best['epoch']} of {epochs}, dev entity F1 {best['dev_entity_f1']:.3f}, relation F1 "
              f"{best['dev_relation_f1']:.3f}" if "dev_entity_f1" in best else
              f"last epoch {best['epoch']} of {epochs} (no dev set)")
    typer.echo(f"span model in {output}: {scores} ({card['training']['seconds']:.0f} s on {len(train_docs)} reports)",
               err=True)


def train_llm_command(
    train: Path = typer.Option(..., "--train", metavar="FILE", help="Gold RadGraph file to train on."),
    dev: Optional[Path] = typer.Option(None, "--dev", metavar="FILE", help="Gold RadGraph file: dev loss per epoch picks the epoch kept, and its first --dev-reports reports are extracted at the end for F1 (without one, the last epoch is kept)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="DIR", help="Folder for the trained model (vLLM and transformers load it as it is)."),
    model: Optional[str] = typer.Option(None, "--model", help="Base model: a local HF folder, .gguf file or hub-cache id (default: the embedded SmolLM2-135M)."),
    method: Method = typer.Option(Method.FULL, "--method", help="full: train every weight (small models); lora: low-rank adapters with peft (big models)."),
    lora_rank: int = typer.Option(16, "--lora-rank", min=1, max=1024, help="Rank of the LoRA adapters (alpha is twice it)."),
    epochs: int = typer.Option(3, "--epochs", min=1, max=1000, help="Passes over the training reports."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", callback=lambda v: v if v is None else _positive(v), help="Peak learning rate after a linear warm-up over 10% of the steps, then linear decay (default: 3e-4 full, 2e-4 lora)."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, max=4096, help="Examples per forward pass (batches of similar length)."),
    gradient_accumulation: int = typer.Option(1, "--grad-accum", min=1, max=4096, help="Forward passes per optimizer step."),
    max_length: int = typer.Option(2048, "--max-length", min=16, max=1_000_000, help="Longest example in tokens (prompt and answer); longer ones are skipped and counted, never truncated."),
    chunk_words: Optional[int] = typer.Option(None, "--chunk-words", min=0, max=1_000_000, help="Reports longer than this many words train as the chunks extraction splits them into (default: extraction's default, 30 words; 0: whole reports)."),
    prompt: str = typer.Option("finetuned", "--prompt", help="The prompt trained on and recorded as the model's default: a shipped prompt or a .j2 path."),
    labels: LabelSet = typer.Option(LabelSet.RADGRAPH, "--labels", help="Label set the model learns to write."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Seed of the initialisation and the example order."),
    dtype: Dtype = typer.Option(Dtype.AUTO, "--dtype", help="Compute dtype: auto is bf16 autocast on GPUs and on CPUs with AVX-512 BF16/AMX, else float32."),
    gradient_checkpointing: bool = _flag("Recompute activations in the backward pass: less memory, ~30% slower.", "--gradient-checkpointing"),
    no_merge: bool = _flag("LoRA: keep the PEFT adapter instead of merging it into the base weights.", "--no-merge"),
    dev_reports: int = typer.Option(32, "--dev-reports", min=0, max=1_000_000, help="Dev reports extracted with the trained model at the end for entity/relation F1 (0: none)."),
    force: bool = _flag("Replace the output folder if it exists (only once the new model is complete).", "--force"),
    quiet: bool = _flag("No progress bar.", "--quiet", "-q"),
    labeler: Optional[str] = _labeler_option(),
) -> None:
    """Fine-tune an LLM on gold graphs: the prompt it reads and the answer it learns are exactly what extraction sends and parses."""
    from llmgraph.training.llm.checks import check_output_folder
    from llmgraph.training.llm.config import LLMTrainingConfig
    from llmgraph.training.llm.train import train_llm

    if no_merge and method is Method.FULL:
        raise InputError("--no-merge: only --method lora has an adapter to keep")
    config = LLMTrainingConfig(model=model, method=method.value, lora_rank=lora_rank, epochs=epochs,
                               learning_rate=learning_rate, batch_size=batch_size,
                               gradient_accumulation=gradient_accumulation, max_length=max_length, prompt=prompt,
                               labels=labels, seed=seed, dtype=dtype.value, gradient_checkpointing=gradient_checkpointing,
                               merge=not no_merge, dev_reports=dev_reports, chunk_words=chunk_words)
    check_output_folder(output, force, config, {"train_file": train, "dev_file": dev})
    check_output(output, [train, dev], folder=True)
    train_docs = _read_training(train, labeler)
    dev_docs = _read_training(dev, labeler) if dev is not None else None
    card = train_llm(train_docs, dev_docs, output, config, force=force, progress=not quiet,
                     data=_training_files(train, dev))
    compute = card["compute"]
    typer.echo(f"LLM in {output}: {'; '.join(_llm_summary(card, epochs, output))}; {card['seconds']:.0f} s, "
               f"{compute['training_tokens_per_second']:.0f} training tokens/s", err=True)


def _training_files(train: Path, dev: Optional[Path]) -> dict[str, str]:
    """The training data's files and their SHA-256, for the model card."""
    from llmgraph.core.fingerprints import file_sha256

    return {"train_file": str(train), "train_sha256": file_sha256(train),
            **({"dev_file": str(dev), "dev_sha256": file_sha256(dev)} if dev is not None else {})}


def _llm_summary(card: dict[str, Any], epochs: int, output: Path) -> list[str]:
    """What train-llm says of the model it wrote: the epoch kept, the dev scores, the reports skipped."""
    best = card["best"]
    summary = [f"epoch {best['epoch']} of {epochs} kept" + (f" (dev loss {best['dev_loss']:.3f})" if "dev_loss" in best else
                                                             " (no dev set)")]
    if "dev_extraction" in card:
        scores = card["dev_extraction"]
        summary.append(f"dev entity F1 {scores['entity_f1']:.3f}, relation F1 {scores['relation_f1']:.3f} on "
                       f"{scores['reports']} reports")
    skipped = sum(value for key, value in card["data"]["train"].items() if key.startswith("skipped"))
    if skipped:
        summary.append(f"{skipped} training reports skipped (see {output}/llm_model.json)")
    return summary

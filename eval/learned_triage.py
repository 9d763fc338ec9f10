"""Which learned triage layer carries over to wording nobody tuned on? A sweep, out of batch, on tuning data only.

The rules and the backstop are fitted to the tuning questions, so their tuning figures say little about a new
writer. This sweep fine-tunes the top of the embedding model itself as a three-way classifier (no warning sign,
urgent, emergency) and scores it the way new wording arrives: whole batches of ``eval/data/questions.jsonl``
are left out (each of the two outside writers' batches alone, the earlier batches in four groups of consecutive
batches), the model is trained on the rest, and the left-out batch is predicted.

Training examples: the tuning questions (their level, or none), the catalogue's test phrases (their rule's
level) and negative phrases (none), and MedQuAD questions from ``../shared`` (none: broad health questions about
other conditions, so that the model learns that a question about another condition is no emergency). MedQuAD
questions are drawn from lines outside the retrieval benchmark's queries and its tuning draw; a fifth of them is
left out with each fold, so their false alarms are measured out of fold too.

The bottom layers stay frozen: their hidden states are computed once, and only the top ``top`` transformer
layers and a linear head are trained. In the product the frozen layers would be the retrieval pass's own, so
the triage model would cost ``top`` layers of one pass. Each row reports, at a false-alarm budget on the tuning
questions that need no banner (the flag threshold is the budget's quantile of their out-of-batch scores), the
emergencies flagged at level, urgent questions flagged at urgent or above, and the false alarms per kind.

``python -m eval.learned_triage`` runs the default grid; ``--config TOP:POOLING:EPOCHS:LR`` runs others
(pooling ``mean`` or ``attention``). It reads only tuning questions; held-out questions never reach it.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.medquad import MEDQUAD_FILE, question_lines_in_use
from eval.questions import BATCHES, QUESTIONS_FILE, batch_of, load_questions
from triage import load_catalogue

LEVELS = ("none", "urgent", "emergency")
MEDQUAD_NEGATIVES = 1_500
MEDQUAD_FOLDS = 5
OUTSIDE_WRITER_BATCHES = 2  # the last batches of BATCHES, each by a writer who never saw the project
BUDGETS = (0.01, 0.02, 0.05)
DEFAULT_GRID = ("1:mean:6:1e-4", "1:mean:6:5e-4", "1:mean:6:1e-3", "2:mean:6:2e-4", "1:attention:6:5e-4")
BATCH = 32


@dataclass(frozen=True)
class Examples:
    """Training texts with their level (an index into ``LEVELS``), group and kind.

    ``group``: the question's batch (an index into ``BATCHES``), -1 for a catalogue phrase (always trained on),
    or ``-100 - k`` for a MedQuAD question of negative fold ``k``.
    """

    texts: list[str]
    level: np.ndarray
    group: np.ndarray
    kind: np.ndarray


def training_examples(questions_file: Path = QUESTIONS_FILE, medquad_file: Path = MEDQUAD_FILE) -> Examples:
    """The tuning questions, the catalogue's phrases and the MedQuAD negatives.

    Raises:
        FileNotFoundError: MedQuAD is not in ``../shared``.
    """
    texts: list[str] = []
    level: list[int] = []
    group: list[int] = []
    kind: list[str] = []
    for q in load_questions(questions_file, split="tune"):
        batch = batch_of(q.id)
        if batch is None:
            raise SystemExit(f"{q.id} is in no batch of eval.questions.BATCHES: add its batch there first")
        texts.append(q.question)
        level.append(LEVELS.index(q.red_flag_level or "none"))
        group.append(batch)
        kind.append(q.kind)
    for rule in load_catalogue().rules:
        for phrase in rule.test_phrases:
            texts.append(phrase)
            level.append(LEVELS.index(rule.level))
            group.append(-1)
            kind.append("phrase")
        for phrase in rule.negative_phrases:
            texts.append(phrase)
            level.append(0)
            group.append(-1)
            kind.append("negative phrase")
    for k, question in enumerate(medquad_negatives(medquad_file)):
        texts.append(question)
        level.append(0)
        group.append(-100 - k % MEDQUAD_FOLDS)
        kind.append("medquad")
    return Examples(texts, np.array(level), np.array(group), np.array(kind))


def medquad_negatives(path: Path = MEDQUAD_FILE, n: int = MEDQUAD_NEGATIVES) -> list[str]:
    """``n`` MedQuAD questions from lines that are neither the retrieval benchmark's queries nor its tuning draw."""
    if not path.is_file():
        raise FileNotFoundError(f"MedQuAD not found at {path} (expected ../shared/datasets/medquad/)")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        questions = [" ".join(json.loads(line)["question"].split()) for line in handle if line.strip()]
    in_use = question_lines_in_use(len(questions))
    pool = [line for line in range(len(questions)) if line not in in_use]
    return [questions[line] for line in random.Random(11).sample(pool, n)]


def batch_folds(groups: np.ndarray) -> list[tuple[list[int], int]]:
    """The folds: (batches left out, MedQuAD negative fold left out with them)."""
    batches = sorted({int(g) for g in groups if g >= 0})
    outside = [b for b in batches if b >= len(BATCHES) - OUTSIDE_WRITER_BATCHES]
    earlier = [b for b in batches if b not in outside]
    held = [[b] for b in outside] + [[int(b) for b in part] for part in np.array_split(earlier, 4) if len(part)]
    return [(batches_out, -100 - i % MEDQUAD_FOLDS) for i, batches_out in enumerate(held)]


def flag_rates(probabilities: np.ndarray, examples: Examples, mask: np.ndarray, budget: float) -> dict[str, Any]:
    """Counts at the threshold that flags ``budget`` of the tuning questions needing no banner.

    A flag is emergency when P(emergency) is at least half of P(urgent) (escalate when unsure), else urgent.
    """
    question = mask & (examples.group >= 0)
    none = question & (examples.level == 0)
    red = probabilities[:, 1] + probabilities[:, 2]
    threshold = float(np.quantile(red[none], 1 - budget))
    flagged = red >= threshold
    level = np.where(flagged, np.where(probabilities[:, 2] >= 0.5 * probabilities[:, 1], 2, 1), 0)
    emergency = question & (examples.level == 2)
    urgent = question & (examples.level == 1)

    def share(rows: np.ndarray, hit: np.ndarray) -> str:
        return f"{hit[rows].mean():.3f} ({int(hit[rows].sum())}/{int(rows.sum())})" if rows.any() else "-"

    return {
        "threshold": threshold,
        "emergency at level": share(emergency, level == 2),
        "urgent at or above": share(urgent, level >= 1),
        "false alarms": " / ".join(
            share(question & (examples.kind == kind), flagged) for kind in ("benign", "answerable", "out_of_scope")
        ),
        "medquad": share(mask & (examples.kind == "medquad"), flagged),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", metavar="TOP:POOLING:EPOCHS:LR", help="configs to run")
    args = parser.parse_args(argv)
    import torch

    torch.manual_seed(0)
    examples = training_examples()
    states = _frozen_states(examples.texts)
    folds = batch_folds(examples.group)
    sys.stdout.write(
        f"{len(examples.texts)} examples; folds (batches left out): {[b for b, _ in folds]}\n\n"
        "| config | budget | threshold | emergency at level | urgent at or above | false alarms: benign / answerable /"
        " out of scope | MedQuAD |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    for config in args.config or DEFAULT_GRID:
        top, pooling, epochs, lr = config.split(":")
        started = time.monotonic()
        probabilities, seen = _out_of_batch(states, examples, folds, int(top), pooling, int(epochs), float(lr))
        for budget in BUDGETS:
            rates = flag_rates(probabilities, examples, seen, budget)
            sys.stdout.write(
                f"| {config} | {budget:.0%} | {rates['threshold']:.3f} | {rates['emergency at level']} | "
                f"{rates['urgent at or above']} | {rates['false alarms']} | {rates['medquad']} |\n"
            )
        sys.stdout.flush()
        sys.stderr.write(f"({config}: {time.monotonic() - started:.0f} s)\n")


# ---------------------------------------------------------------------------------------------- the model (torch)


def _frozen_states(texts: Sequence[str]) -> Any:
    """Every text's hidden states after each layer of the embedding model (unpadded), computed once."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from index import resolve_model
    from settings import Settings

    path = str(resolve_model(Settings().model).path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    ids = tokenizer(list(texts), truncation=True, max_length=256)["input_ids"]
    states: list[list[Any]] = [[] for _ in texts]
    order = np.argsort([len(x) for x in ids])
    with torch.no_grad():
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            batch = tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt")
            hidden = model(**batch, output_hidden_states=True).hidden_states
            for k, i in enumerate(rows):
                states[i] = [layer[k, : len(ids[i])].clone() for layer in hidden]
    return {"states": states, "model": model}


def _head(model: Any, top: int, pooling: str) -> Any:
    import torch

    layers = model.encoder.layer
    dim = model.config.hidden_size

    class TriageHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList([copy.deepcopy(layer) for layer in layers[len(layers) - top :]])
            self.attention = torch.nn.Linear(dim, 1) if pooling == "attention" else None
            self.dropout = torch.nn.Dropout(0.1)
            self.out = torch.nn.Linear(dim, len(LEVELS))

        def forward(self, hidden: Any, mask: Any) -> Any:
            additive = (1.0 - mask[:, None, None, :].float()) * -1e9
            for layer in self.layers:
                hidden = layer(hidden, attention_mask=additive)
                hidden = hidden[0] if isinstance(hidden, tuple) else hidden
            weights = mask[..., None].float()
            if self.attention is None:
                pooled = (hidden * weights).sum(1) / weights.sum(1)
            else:
                scores = self.attention(hidden).squeeze(-1) + (1.0 - mask.float()) * -1e9
                pooled = (torch.softmax(scores, 1)[..., None] * hidden).sum(1)
            return self.out(self.dropout(pooled))

    return TriageHead()


def _padded(frozen: Any, rows: Sequence[int] | np.ndarray, layer: int) -> tuple[Any, Any]:
    import torch

    states = [frozen["states"][i][layer] for i in rows]
    longest = max(len(s) for s in states)
    hidden = torch.zeros(len(rows), longest, states[0].shape[1])
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for k, s in enumerate(states):
        hidden[k, : len(s)] = s
        mask[k, : len(s)] = 1
    return hidden, mask


def _out_of_batch(
    frozen: Any,
    examples: Examples,
    folds: list[tuple[list[int], int]],
    top: int,
    pooling: str,
    epochs: int,
    lr: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-batch class probabilities (and which rows got one) for a config."""
    import torch

    layer = len(frozen["model"].encoder.layer) - top
    probabilities = np.zeros((len(examples.texts), len(LEVELS)))
    seen = np.zeros(len(examples.texts), dtype=bool)
    for batches_out, medquad_out in folds:
        out = np.isin(examples.group, batches_out) | (examples.group == medquad_out)
        head = _fit(frozen, examples, np.where(~out)[0], top, pooling, epochs, lr, layer)
        head.eval()
        test = np.where(out)[0]
        with torch.no_grad():
            for start in range(0, len(test), 128):
                rows = test[start : start + 128]
                probabilities[rows] = torch.softmax(head(*_padded(frozen, rows, layer)), 1).numpy()
        seen |= out
    return probabilities, seen


def _fit(
    frozen: Any, examples: Examples, rows: np.ndarray, top: int, pooling: str, epochs: int, lr: float, layer: int
) -> Any:
    """Train a head on ``rows``: class-balanced cross-entropy, AdamW, one-cycle schedule, length-bucketed batches."""
    import torch

    head = _head(frozen["model"], top, pooling)
    optimiser = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    counts = np.bincount(examples.level[rows], minlength=len(LEVELS))
    weight = torch.tensor(len(rows) / (len(LEVELS) * np.maximum(counts, 1)), dtype=torch.float)
    targets = torch.tensor(examples.level)
    steps = epochs * -(-len(rows) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps + epochs, pct_start=0.1)
    rng = np.random.default_rng(0)
    lengths = [len(frozen["states"][i][0]) for i in range(len(examples.texts))]
    for _ in range(epochs):
        head.train()
        shuffled = rng.permutation(rows)
        batches: list[np.ndarray] = []
        for start in range(0, len(shuffled), BATCH * 20):  # sorted within buckets: little padding, still shuffled
            bucket = sorted(shuffled[start : start + BATCH * 20], key=lambda i: lengths[i])
            batches += [np.array(bucket[b : b + BATCH]) for b in range(0, len(bucket), BATCH)]
        for k in rng.permutation(len(batches)):
            batch = batches[k]
            loss = torch.nn.functional.cross_entropy(
                head(*_padded(frozen, batch, layer)), targets[batch], weight=weight
            )
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
    return head


if __name__ == "__main__":
    main()

"""The experiments of ``lab3 results``: their names, what each records, and the order of a run.

The lowest module of the answer key: the runner runs these, the claims read their records; it imports
nothing.
"""

from __future__ import annotations

# name -> what it records (the README's order)
EXPERIMENTS: dict[str, str] = {
    "ex1_length_sweep": "Transformer vs LSTM on the reverse task at lengths 8/16/32/64",
    "ex1_vit_vs_cnn": "ViT vs a CNN of the same size on the same CIFAR-10 subset and budget",
    "ex2_labels": "scratch vs frozen features vs fine-tuning at 100 / 1 000 / 5 000 labels",
    "ex2_domain": "related vs unrelated vs no vs ImageNet pretraining, few vehicle labels",
    "ex2_text": "MiniLM on SST-2: frozen features vs fine-tuning",
    "ex3_optimizers": "SGD-momentum / Adam / AdamW x constant / cosine / warmup+cosine",
    "ex3_amp_accumulation": "AMP on/off; gradient accumulation k = 1 / 2 / 4",
    "ex3_regularization": "none / dropout / batch norm / layer norm / augmentation / all",
    "next_distillation": "knowledge distillation (next steps, ungraded)",
}


# the order of a run: the cheapest first; ex2_labels fills the feature cache that next_distillation reuses
RUN_ORDER = ("ex3_amp_accumulation", "ex1_vit_vs_cnn", "ex2_text", "ex1_length_sweep", "ex3_optimizers",
             "ex3_regularization", "ex2_domain", "ex2_labels", "next_distillation")

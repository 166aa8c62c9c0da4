"""Lab 3 — Advanced Deep Learning: the student package.

Modules you complete (``TODO``): ``attention``, ``positional``, ``transformer``, ``vit``,
``transfer``, ``training``, ``optim``. Modules given complete: ``data``, ``sequences``,
``models``, ``viz``, ``utils`` and the experiment helpers. Optional and ungraded (never submitted):
``distillation`` (the "next steps" exercise: one TODO, ``distillation_loss``).
"""

__version__ = "0.1.0"

GRADED_MODULES = (
    "attention",
    "positional",
    "transformer",
    "vit",
    "transfer",
    "training",
    "optim",
)

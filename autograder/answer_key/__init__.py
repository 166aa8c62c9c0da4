"""``lab3 results``: the lab's answer key.

Runs every experiment of the lab with the solution code (``lab3.ex1_experiments``,
``lab3.transfer_experiments``, ``lab3.ex3_experiments``, ``lab3.distillation``) and writes ``results/``:
one CSV and its figures per experiment, a ``<name>.json`` with the configuration, the wall time, the
machine and the command, and ``README.md``, generated from the measured numbers, with a verdict for
each claim of the lab (:mod:`autograder.answer_key.claims`).
"""

from .registry import EXPERIMENTS
from .runner import run_results

__all__ = ["EXPERIMENTS", "run_results"]

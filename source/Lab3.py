# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 3 — Advanced Deep Learning
#
# Three exercises: **(1)** Transformers and attention, **(2)** transfer learning,
# **(3)** advanced optimization and regularization.
#
# You implement the `TODO` functions of the `lab3` package (`lab3/attention.py`, `lab3/positional.py`,
# `lab3/transformer.py`, `lab3/vit.py`, `lab3/transfer.py`, `lab3/training.py`, `lab3/optim.py`);
# this notebook uses them for experiments. Run `lab3 check` (or `pytest tests/`) for the public checks.
#
# Set `LAB3_QUICK=1` in the environment for a quick run (small data, few epochs) that finishes on a
# laptop CPU in minutes; leave it unset for the full experiments. TensorBoard logs go to `runs/`:
# `tensorboard --logdir runs`.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import torch

from lab3 import utils

utils.seed_everything(0)
QUICK = utils.quick_mode()
DEVICE = utils.get_device()
print(utils.device_report())
print("quick mode:", QUICK)

# %% [markdown]
# ## Exercise 1 — Transformers and attention
#
# (Exercise 1 section: written by its owner.)

# %% [markdown]
# ## Exercise 2 — Transfer learning
#
# (Exercise 2 section: written by its owner.)

# %% [markdown]
# ## Exercise 3 — Advanced optimization and regularization
#
# (Exercise 3 section: written by its owner.)

# %% [markdown]
# ## Wrap-up
#
# Submit the seven graded modules (see the README): `lab3 submit` makes `submission.zip`.

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
# You implement six pieces of `lab3`; this part of the notebook uses them for experiments.
#
# | where | what | the reference it must equal |
# |---|---|---|
# | `lab3/attention.py` | `causal_mask`, `scaled_dot_product_attention`, `MultiHeadAttention.forward` | `F.scaled_dot_product_attention`, `nn.MultiheadAttention(batch_first=True)` with the same weights |
# | `lab3/positional.py` | `SinusoidalPositionalEncoding` | the closed form of Vaswani et al. (2017), §3.5 |
# | `lab3/transformer.py` | `TransformerEncoderLayer.forward` | `nn.TransformerEncoderLayer(batch_first=True)`, post- and pre-norm, ReLU and GELU |
# | `lab3/vit.py` | `PatchEmbedding.forward` | cutting patches with `F.unfold` and one shared linear map |
#
# **Masks: `True` means blocked** (as in `nn.MultiheadAttention`); a float mask is added to the scores.
# Careful: `F.scaled_dot_product_attention` uses the opposite convention (`True` = may attend).
#
# Everything else (the decoder layer, the encoder–decoder `Seq2SeqTransformer`, the `VisionTransformer`,
# the LSTM baseline, the data and the plots) is given and calls *your* functions. Check your code with
# `lab3 check` (or `pytest tests/test_ex1_public.py -q`) first. Every run logs to TensorBoard:
# `tensorboard --logdir runs/ex1`.

# %%
import torch
from IPython.display import display
from torch import nn

from lab3 import data as lab3_data
from lab3 import ex1_experiments as ex1
from lab3 import viz
from lab3.attention import MultiHeadAttention, causal_mask
from lab3.sequences import BOS, EOS, generate_seq2seq_batch, tokens_to_labels

# %% [markdown]
# ### 1.1 Your multi-head attention against PyTorch's
#
# Build an `nn.MultiheadAttention(E, H, batch_first=True)`, copy its weights into your
# `MultiHeadAttention` with `load_torch_weights`, put both in eval mode, and compare outputs **and**
# per-head weights in float64 on two calls: a cross-attention (`S != T`) with a `key_padding_mask`, and a
# self-attention with a causal `attn_mask`. Print the relative error `max|a - b| / max|b|` of each
# (`relative_error` below); expect about `1e-16`, and anything above `1e-10` is a bug.

# %%
def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


### BEGIN SOLUTION
torch.manual_seed(0)
E, H, B, T, S = 32, 4, 2, 5, 7
reference = nn.MultiheadAttention(E, H, batch_first=True).double().eval()
mine = MultiHeadAttention(E, H).double().eval()
mine.load_torch_weights(reference)

query = torch.randn(B, T, E, dtype=torch.float64)
memory = torch.randn(B, S, E, dtype=torch.float64)
padding = torch.zeros(B, S, dtype=torch.bool)
padding[1, -2:] = True  # the last two keys of the second sequence are padding

out, w = mine(query, memory, memory, key_padding_mask=padding, average_attn_weights=False)
ref_out, ref_w = reference(query, memory, memory, key_padding_mask=padding, average_attn_weights=False)
print(f"cross-attention: output {relative_error(out, ref_out):.1e}, weights {relative_error(w, ref_w):.1e}")

out, w = mine(query, query, query, attn_mask=causal_mask(T))
ref_out, ref_w = reference(query, query, query, attn_mask=causal_mask(T))
print(f"causal self-attention: output {relative_error(out, ref_out):.1e}, weights {relative_error(w, ref_w):.1e}")
### END SOLUTION

# %% [markdown]
# ### 1.2 Transformer vs LSTM on the reverse task, as sequences grow
#
# The task: read `x_1 … x_L` and write `x_L … x_1` (10 symbols; `lab3.sequences`). Both models see the
# same stream of fresh batches and the same number of optimizer steps, and the LSTM encoder–decoder
# (no attention: the whole input must pass through its final state) gets **as many parameters** as the
# Transformer. The metric is **exact match**: the whole output sequence, EOS included, must be right
# (greedy decoding on 256 held-out sequences).
#
# The claim to test: *Transformers win on longer sequences.* Quick mode trains for far fewer steps
# (and skips length 64), so expect lower numbers there.

# %%
seq_cfg = ex1.Seq2SeqConfig(steps=300 if QUICK else 1500, eval_every=100 if QUICK else 250,
                            eval_examples=128 if QUICK else 256)
lengths = (8, 16, 32) if QUICK else (8, 16, 32, 64)
sweep = ex1.length_sweep(lengths, base=seq_cfg, device=DEVICE, run_prefix="ex1/reverse", verbose=True)

print(f"\n{'model':12s} {'length':>6s} {'params':>8s} {'exact':>7s} {'token':>7s} {'train s':>8s}")
for r in sweep:
    print(f"{r['model']:12s} {r['length']:6d} {r['params']:8d} {r['exact_match']:7.3f} "
          f"{r['token_accuracy']:7.3f} {r['train_seconds']:8.1f}")
display(viz.plot_length_sweep(sweep, title="reverse task: exact match vs length"))
display(viz.plot_length_sweep(sweep, metric="token_accuracy", title="reverse task: token accuracy vs length"))

# %% [markdown]
# **Question.** Does the claim hold here? Look at both plots: where does the LSTM's exact match fall,
# and is its *token* accuracy falling as fast? Why would a fixed-size state hurt more as `L` grows,
# while attention can look up any source position directly? What does the Transformer pay instead
# (think of the cost of attention in `L`)?
#
# *Your answer here.*

# %% [markdown]
# ### 1.3 What did the Transformer learn to attend to?
#
# Plot the cross-attention (decoder → encoder) of the **last decoder layer** of the trained length-16
# Transformer for one new sequence, one panel per head, with the tokens as labels
# (`viz.capture_attention`, `viz.plot_attention`, `tokens_to_labels`). For reversal, the answer's
# `k`-th token should attend to source position `L + 1 - k`: an anti-diagonal.

# %%
transformer16 = next(r["module"] for r in sweep if r["model"] == "transformer" and r["length"] == 16)

### BEGIN SOLUTION
example = generate_seq2seq_batch("reverse", 1, 16, 16).to(DEVICE)
maps = viz.capture_attention(transformer16, lambda: transformer16(example.src, example.tgt_in))
last = f"decoder_layers.{len(transformer16.decoder_layers) - 1}.multihead_attn"
fig = viz.plot_attention(maps[last][0], query_labels=tokens_to_labels(example.tgt_in[0]),
                         key_labels=tokens_to_labels(example.src[0]), title=f"{last} (reverse, L = 16)")
display(fig)
prediction = transformer16.greedy_decode(example.src, 18, BOS, EOS)
print("source    :", " ".join(tokens_to_labels(example.src[0])))
print("prediction:", " ".join(tokens_to_labels(prediction[0])))
### END SOLUTION

# %% [markdown]
# ### 1.4 A Vision Transformer on CIFAR-10
#
# `VisionTransformer` cuts a 32 × 32 image into 4 × 4 patches (your `PatchEmbedding`: 64 tokens),
# prepends a class token, adds learned positions and runs pre-norm encoder layers (your
# `TransformerEncoderLayer`). Here it trains on a stratified subset (5 000 images; 1 000 in quick mode)
# with AdamW, a one-cycle schedule, label smoothing and crop + flip augmentation, and is tested on the
# full 10 000-image test split (2 000 in quick mode).

# %%
vit_cfg = ex1.ViTConfig()
if QUICK:
    vit_cfg = ex1.ViTConfig(train_per_class=100, epochs=2, test_examples=2000)
vit_run = ex1.train_vit(vit_cfg, device=DEVICE, run_name="ex1/vit", verbose=True)
print(f"ViT: {vit_run['params']} parameters, test accuracy {vit_run['test_accuracy']:.3f} "
      f"after {vit_run['train_seconds']:.0f} s of training")
display(viz.plot_learning_curves({"ViT": vit_run["history"]},
                                 metrics=("train_loss", "train_accuracy", "test_accuracy")))
display(viz.plot_confusion_matrix(vit_run["targets"], vit_run["predictions"], lab3_data.CIFAR10_CLASSES))

# %% [markdown]
# **Question.** Compare with the small CNN of Exercise 3 trained on the same 5 000 images. Which
# classes does the ViT confuse most, and why does a ViT need more data (or stronger augmentation)
# than a CNN to reach the same accuracy? (Hint: what does a convolution assume that attention does not?)
#
# *Your answer here.*

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

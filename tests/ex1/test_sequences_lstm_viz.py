"""Given Exercise 1 code: toy tasks, the LSTM baseline, the plots, the experiment helpers (tiny runs)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from lab3 import data as lab3_data  # noqa: E402
from lab3 import ex1_experiments as ex1  # noqa: E402
from lab3 import experiment_common as common  # noqa: E402
from lab3 import sequences as seq  # noqa: E402
from lab3 import vit_experiments as vit_ex  # noqa: E402
from lab3 import viz  # noqa: E402
from lab3.models import LSTMSeq2Seq  # noqa: E402
from lab3.transformer import Seq2SeqTransformer  # noqa: E402


# ------------------------------------------------------------------------------------------ sequences
@pytest.mark.parametrize(
    "task,expected", [("reverse", [5, 4, 3, 9]), ("copy", [9, 3, 4, 5]), ("sort", [3, 4, 5, 9])]
)
def test_task_targets(task: str, expected: list[int]) -> None:
    assert seq.task_target(task, [9, 3, 4, 5]).tolist() == expected
    with pytest.raises(ValueError):
        seq.task_target("shuffle", [1])


def test_example_layout_and_collate() -> None:
    rng = np.random.default_rng(0)
    src, tgt = seq.make_seq2seq_example("reverse", 5, 10, rng)
    assert src.dtype == torch.long and src.shape == (6,) and tgt.shape == (7,)
    assert src[-1] == seq.EOS and tgt[0] == seq.BOS and tgt[-1] == seq.EOS
    assert tgt[1:-1].tolist() == src[:-1].flip(0).tolist()
    assert ((src[:-1] >= seq.NUM_SPECIAL) & (src[:-1] < seq.NUM_SPECIAL + 10)).all()
    short = seq.make_seq2seq_example("reverse", 2, 10, rng)
    batch = seq.collate_seq2seq([(src, tgt), short])
    assert batch.src.shape == (2, 6) and batch.tgt_in.shape == (2, 6) and batch.tgt_out.shape == (2, 6)
    assert batch.src[1, 3:].eq(seq.PAD).all() and batch.tgt_out[1, 3:].eq(seq.PAD).all()
    assert torch.equal(batch.tgt_in[0, 1:], batch.tgt_out[0, :-1])  # shifted by one


def test_generators_are_seeded_and_variable_length() -> None:
    a = seq.ToySeq2SeqDataset("sort", 50, 2, 9, num_symbols=5, seed=3)
    b = seq.ToySeq2SeqDataset("sort", 50, 2, 9, num_symbols=5, seed=3)
    c = seq.ToySeq2SeqDataset("sort", 50, 2, 9, num_symbols=5, seed=4)
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(a, c, strict=True))
    lengths = {len(s) - 1 for s, _ in a}
    assert min(lengths) >= 2 and max(lengths) <= 9 and len(lengths) > 3
    assert a.vocab_size == seq.seq2seq_vocab_size(5) == 8
    s1 = next(seq.seq2seq_batch_stream("copy", 4, 3, 3, seed=1))
    s2 = next(seq.seq2seq_batch_stream("copy", 4, 3, 3, seed=1))
    assert torch.equal(s1.src, s2.src)
    loader = seq.make_seq2seq_loader(a, batch_size=16, shuffle=True, seed=0)
    first = next(iter(loader))
    assert isinstance(first, seq.Seq2SeqBatch) and first.src.size(0) == 16
    with pytest.raises(ValueError):
        seq.ToySeq2SeqDataset("reverse", 3, 5, 2)


def test_reexported_from_lab3_data() -> None:
    assert lab3_data.ToySeq2SeqDataset is seq.ToySeq2SeqDataset
    assert lab3_data.PAD == seq.PAD and lab3_data.collate_seq2seq is seq.collate_seq2seq


def test_exact_match_and_token_accuracy() -> None:
    tgt_out = torch.tensor([[5, 6, 2, 0], [7, 8, 9, 2]])
    pred = torch.tensor([[5, 6, 2, 9, 9], [7, 8, 3, 2, 0]])  # junk after EOS is fine; 2nd has a wrong token
    assert seq.exact_match(pred, tgt_out).tolist() == [True, False]
    assert seq.exact_match(pred[:, :2], tgt_out).tolist() == [False, False]  # EOS missing
    assert seq.token_accuracy(pred, tgt_out) == pytest.approx(6 / 7)
    assert seq.tokens_to_labels([0, 1, 2, 3, 12]) == ["<pad>", "<s>", "</s>", "0", "9"]


# ------------------------------------------------------------------------------------------------ LSTM
def test_lstm_interface_matches_transformer() -> None:
    torch.manual_seed(0)
    batch = seq.generate_seq2seq_batch("reverse", 3, 2, 6, num_symbols=7, rng=np.random.default_rng(0))
    V = seq.seq2seq_vocab_size(7)
    for model in (LSTMSeq2Seq(V, V, 8, 16, num_layers=2), Seq2SeqTransformer(V, V, 16, 2, 1, 1, 32)):
        logits = model(batch.src, batch.tgt_in)
        assert logits.shape == (*batch.tgt_in.shape, V)
        out = model.greedy_decode(batch.src, 9, seq.BOS, seq.EOS)
        assert out.dtype == torch.long and out.size(0) == 3 and out.size(1) <= 9


def test_lstm_ignores_source_padding() -> None:
    torch.manual_seed(0)
    model = LSTMSeq2Seq(10, 10, 8, 12).eval()
    src = torch.tensor([[4, 5, 6, 2]])
    tgt_in = torch.tensor([[1, 6, 5]])
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, tgt_in), model(src, tgt_in))


def test_lstm_parameter_matching() -> None:
    cfg = ex1.Seq2SeqConfig(d_model=32, dim_feedforward=64)
    n_t = sum(p.numel() for p in ex1.build_transformer(cfg).parameters())
    n_l = sum(p.numel() for p in ex1.build_lstm(cfg).parameters())
    assert abs(n_l - n_t) / n_t < 0.02


# ------------------------------------------------------------------------------------------------ viz
def test_capture_attention_and_plots(tmp_path) -> None:
    torch.manual_seed(0)
    batch = seq.generate_seq2seq_batch("reverse", 2, 5, 5, num_symbols=7, rng=np.random.default_rng(1))
    V = seq.seq2seq_vocab_size(7)
    model = Seq2SeqTransformer(V, V, 16, 4, 1, 1, 32).train()
    maps = viz.capture_attention(model, lambda: model(batch.src, batch.tgt_in))
    assert model.training  # restored
    assert set(maps) == {
        "encoder_layers.0.self_attn",
        "decoder_layers.0.self_attn",
        "decoder_layers.0.multihead_attn",
    }
    cross = maps["decoder_layers.0.multihead_attn"]
    assert cross.shape == (2, 4, 6, 6)
    torch.testing.assert_close(cross.sum(-1), torch.ones(2, 4, 6))
    fig = viz.plot_attention(
        cross[0], seq.tokens_to_labels(batch.tgt_in[0]), seq.tokens_to_labels(batch.src[0])
    )
    assert len([ax for ax in fig.axes if ax.get_title().startswith("head")]) == 4
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == seq.tokens_to_labels(batch.src[0])
    fig.savefig(tmp_path / "attention.png")
    with pytest.raises(ValueError):
        viz.plot_attention(cross[0], ["a"], None)
    fig = viz.plot_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2], ["a", "b", "c"])
    fig.savefig(tmp_path / "cm.png")
    hist = {"run": [{"epoch": 1, "train_loss": 2.0, "test_accuracy": 0.2}, {"epoch": 2, "train_loss": 1.0}]}
    viz.plot_learning_curves(hist).savefig(tmp_path / "curves.png")
    rows = [
        {"model": m, "length": n, "exact_match": 0.5, "params": 1000} for m in ("a", "b") for n in (8, 16)
    ]
    viz.plot_length_sweep(rows).savefig(tmp_path / "sweep.png")
    assert all(
        (tmp_path / f).stat().st_size > 1000 for f in ("attention.png", "cm.png", "curves.png", "sweep.png")
    )


# ------------------------------------------------------------------------------------- experiments
def test_train_seq2seq_tiny_run_learns_and_logs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB3_RUNS_DIR", str(tmp_path / "runs"))
    cfg = ex1.Seq2SeqConfig(
        min_len=3, max_len=3, num_symbols=4, steps=150, eval_every=50, eval_examples=64, batch_size=32,
        d_model=32, dim_feedforward=64, num_layers=1, lr=3e-3, warmup_steps=20,
    )  # fmt: skip
    result = ex1.train_seq2seq(ex1.build_transformer(cfg), cfg, run_name="t")
    assert result["steps"] == 150 and len(result["history"]) == 3
    assert result["exact_match"] > 0.5, result["history"]
    assert any((tmp_path / "runs" / "t").iterdir())  # TensorBoard event file


def test_length_sweep_rows(monkeypatch) -> None:
    cfg = ex1.Seq2SeqConfig(
        steps=2, eval_every=2, eval_examples=8, batch_size=4, d_model=16, dim_feedforward=16
    )
    rows = ex1.length_sweep((2, 3), base=cfg, run_prefix=None)
    assert [(r["model"], r["length"]) for r in rows] == [
        ("transformer", 2), ("lstm", 2), ("transformer", 3), ("lstm", 3),
    ]  # fmt: skip
    assert all(0.0 <= r["exact_match"] <= 1.0 for r in rows)


def test_train_vit_on_random_data() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, 16, 16, generator=gen), torch.randint(0, 3, (40,), generator=gen)
    cfg = vit_ex.ViTConfig(
        epochs=2, batch_size=16, model={"patch_size": 8, "embed_dim": 16, "depth": 1, "num_heads": 2}
    )
    result = vit_ex.train_vit(cfg, data=(x, y, x[:10], y[:10]), run_name=None)
    assert len(result["history"]) == 2 and 0.0 <= result["test_accuracy"] <= 1.0
    assert result["predictions"].shape == (10,)


def test_num_threads_context_restores() -> None:
    torch.set_num_threads(2)
    with common.num_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with common.num_threads(None):
        assert torch.get_num_threads() == 2


def test_ex1_experiments_re_exports_the_moved_helpers() -> None:
    """The ViT experiments and the shared helpers moved out; ``lab3.ex1_experiments`` still serves them."""
    for name in ("ViTConfig", "train_vit", "vit_vs_cnn", "evaluate_classifier"):
        assert getattr(ex1, name) is getattr(vit_ex, name) and name in ex1.__all__
    for name in ("num_threads", "make_writer"):
        assert getattr(ex1, name) is getattr(common, name) and name in ex1.__all__
    assert set(ex1.__all__) <= set(dir(ex1))

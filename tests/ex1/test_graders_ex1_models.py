"""The Exercise 1 model graders catch realistic mistakes and name them (one mutant of the solution each).

Each case grades a submission made from the solution by one textual change (``autograder.build.mutants``)
with the tags pe, encoder_layer and patch_embed, and checks that exactly the expected fast graders fail,
with the diagnosis in the student-facing message. The two trained-accuracy graders that these tags also
select (the ViT keeps the student's PatchEmbedding, the Seq2Seq the positional encoding) are not asserted
here: the corpus and the solution / blank-stub runs cover them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.build.mutants import GRADED_MODULES, Mutation, apply, write_submission

REPO = Path(__file__).resolve().parents[2]
FAST_TAGS = ["pe", "encoder_layer", "patch_embed"]
TRAINED = ("test_vit_trains_on_cifar", "test_seq2seq_learns_reversal")  # also tagged patch_embed / pe

MUTANTS = [
    (
        Mutation(
            "pe_concatenated", "positional",
            "        table[:, 0::2] = torch.sin(angles)  # even columns\n"
            "        table[:, 1::2] = torch.cos(angles)  # odd columns\n",
            "        table[:, : d_model // 2] = torch.sin(angles)\n"
            "        table[:, d_model // 2 :] = torch.cos(angles)\n",
        ),
        {"test_pe_table_values": "concatenated", "test_pe_forward": "differs from the reference"},
    ),
    (
        Mutation(
            "pe_parameter", "positional",
            'self.register_buffer("pe", table.to(torch.get_default_dtype()))',
            "self.pe = nn.Parameter(table.to(torch.get_default_dtype()))",
        ),
        {"test_pe_is_a_buffer": "nn.Parameter"},
    ),
    (
        Mutation("encoder_norm_order_swapped", "transformer",
                 "        if self.norm_first:\n            h = self.norm1(x)",
                 "        if not self.norm_first:\n            h = self.norm1(x)"),
        {
            "test_encoder_layer_post_norm": "computed as pre-norm",
            "test_encoder_layer_pre_norm": "computed as post-norm",
            "test_encoder_layer_masks": "differs from the reference",
            "test_encoder_layer_backward": "differs from the reference",
            "test_encoder_layer_other_masks_and_activation": "differs from the reference",
        },
    ),
    (
        Mutation("encoder_activation_ignored", "transformer",
                 "ff = self.linear2(self.dropout(self.activation(self.linear1(h))))",
                 "ff = self.linear2(self.dropout(F.relu(self.linear1(h))))"),
        {"test_encoder_layer_pre_norm": "uses relu instead of self.activation",
         "test_encoder_layer_other_masks_and_activation": "activation=torch.tanh"},
    ),
    (
        Mutation("patch_column_major", "vit",
                 "        x = x.flatten(2)", "        x = x.transpose(2, 3).flatten(2)"),
        {
            "test_patch_embed_values": "column-major",
            "test_patch_embed_other_sizes": "column-major",
            "test_patch_embed_backward": "column-major",
        },
    ),
]  # fmt: skip


# Mutants of different modules do not interact (each grader exercises one module), so one submission
# carries several of them: two grading sessions instead of five.
GROUPS = [[MUTANTS[0], MUTANTS[2], MUTANTS[4]], [MUTANTS[1], MUTANTS[3]]]


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS, ids=["+".join(m.name for m, _ in g) for g in GROUPS])
def test_graders_name_the_mistakes(tmp_path: Path, group: list[tuple[Mutation, dict[str, str]]]) -> None:
    from autograder.engine.grade import grade_submission

    solution = {m: (REPO / "source" / "lab3" / f"{m}.py").read_text(encoding="utf-8") for m in GRADED_MODULES}
    submission = write_submission(apply(solution, [m for m, _ in group]), tmp_path / "submission")
    result = grade_submission(
        submission, tmp_path / "out", only_tags=FAST_TAGS, manifest=tmp_path / "none.json"
    )
    outcome = {t.id.split("::")[1]: t for t in result.tests}
    assert len(outcome) == 15, sorted(outcome)  # the 13 fast tests + the two trainings that carry pe / patch_embed
    for trained in TRAINED:  # they grade these areas too (tags); whether a mutant also costs them is not asserted
        outcome.pop(trained)
    expected = {name: phrase for _, exp in group for name, phrase in exp.items()}
    failed = {name for name, t in outcome.items() if t.status != "passed"}
    assert failed == set(expected), {n: outcome[n].output[:200] for n in failed ^ set(expected)}
    for name, phrase in expected.items():
        assert phrase in outcome[name].output, f"{name}: {outcome[name].output[:400]}"

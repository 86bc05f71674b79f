"""Tests of `zoo report`: the verdict rule, and the report on hand-made runs."""

import json
import os

import pytest

from recipes import report
from recipes.report import Summary, Verdict, combine_verdicts, summarize, verdict_better, verdict_no_worse


def test_summarize_uses_sample_std():
    summary = summarize([1.0, 2.0, 3.0])
    assert summary.mean == 2.0
    assert summary.std == pytest.approx(1.0)
    assert summary.n == 3
    assert summarize([None, float("nan")]).n == 0


def test_better_holds_beyond_two_standard_errors():
    baseline, candidate = Summary(0.70, 0.01, 3), Summary(0.75, 0.01, 3)
    verdict = verdict_better(baseline, candidate, True, "B > A")
    assert verdict.verdict == "holds"
    assert verdict.difference == pytest.approx(0.05)
    assert verdict.standard_error == pytest.approx((2 * 0.01**2 / 3) ** 0.5)


def test_better_fails_in_wrong_direction():
    assert verdict_better(Summary(0.75, 0.01, 3), Summary(0.70, 0.01, 3), True, "B > A").verdict == "fails"


def test_better_fails_within_two_standard_errors():
    # d = 0.01, SE = sqrt(2 * 0.02^2 / 3) = 0.0163, so d < 2 SE.
    assert verdict_better(Summary(0.70, 0.02, 3), Summary(0.71, 0.02, 3), True, "B > A").verdict == "fails"


def test_better_lower_is_better():
    assert verdict_better(Summary(2.0, 0.1, 3), Summary(1.0, 0.1, 3), False, "B < A").verdict == "holds"
    assert verdict_better(Summary(1.0, 0.1, 3), Summary(2.0, 0.1, 3), False, "B < A").verdict == "fails"


def test_no_worse_both_directions():
    assert verdict_no_worse(Summary(0.75, 0.01, 3), Summary(0.70, 0.01, 3), True, "B = A").verdict == "fails"
    assert verdict_no_worse(Summary(0.75, 0.02, 3), Summary(0.74, 0.02, 3), True, "B = A").verdict == "holds"
    assert verdict_no_worse(Summary(0.70, 0.01, 3), Summary(0.80, 0.01, 3), True, "B = A").verdict == "holds"
    assert verdict_no_worse(Summary(1.0, 0.01, 3), Summary(1.5, 0.01, 3), False, "B = A").verdict == "fails"


def test_one_seed_is_undetermined():
    assert verdict_better(Summary(0.7, 0.0, 1), Summary(0.9, 0.0, 1), True, "x").verdict == "undetermined"
    assert verdict_no_worse(Summary(0.7, 0.0, 3), Summary(0.9, 0.0, 1), True, "x").verdict == "undetermined"


def test_combine_verdicts():
    holds, fails = Verdict("holds", 1, 0.1, "flights"), Verdict("fails", 0, 0.1, "movielens")
    assert combine_verdicts([holds, holds], "the data set") == "holds"
    assert combine_verdicts([fails], "the data set") == "fails"
    mixed = combine_verdicts([holds, fails], "the data set")
    assert mixed.startswith("depends on the data set")
    assert "holds for flights" in mixed
    assert "fails for movielens" in mixed
    assert combine_verdicts([], "x").startswith("undetermined")


def write_run(root, experiment, variant, seed, test, **extra):
    folder = os.path.join(root, experiment, variant, f"seed{seed}")
    os.makedirs(folder)
    metrics = {
        "experiment": experiment, "variant": variant, "seed": seed, "mode": "quick", "test": test,
        "history": {"val_auc": [0.6, 0.7], "val_loss": [1.0, 0.9], "val_accuracy": [0.5, 0.6]},
        "validation": {"loss": 0.9}, "parameters": 100, "finished_at": "2026-01-01 00:00:00 UTC",
        "environment": {"processor": "test-cpu", "cpu_count": 2},
    }
    metrics.update(extra)
    with open(os.path.join(folder, "metrics.json"), "w") as file:
        json.dump(metrics, file)


def write_encoding_runs(root, onehot_auc, embedding_auc):
    """Three seeds per encoding whose test AUC is `base + 0.001 * seed`."""
    for dataset in ("flights", "movielens"):
        for encoding, auc in (("onehot", onehot_auc), ("onehot_standardized", onehot_auc),
                              ("embedding_uniform", onehot_auc), ("embedding_normal", embedding_auc),
                              ("frozen", embedding_auc)):
            for seed in range(3):
                write_run(root, "input_encoding", f"{dataset}/{encoding}", seed,
                          {"auc": auc + 0.001 * seed, "loss": 0.5}, epochs_to_95_percent=2 + seed,
                          first_layer_activations={"mean": 0.1, "std": 0.2})


def test_report_verdicts_follow_numbers(tmp_path):
    better = tmp_path / "better"
    write_encoding_runs(str(better), onehot_auc=0.70, embedding_auc=0.75)
    sections = report.build_report(str(better), str(tmp_path / "better.md"))
    verdicts = {section.claim[:2]: section.verdict for section in sections}
    # The AUC gap holds on both data sets, but epochs to 95% are equal, so claim 1 is mixed.
    assert verdicts["1."].startswith("depends on")
    assert "holds for flights: embedding_normal test AUC > onehot" in verdicts["1."]
    assert verdicts["2."] == "holds"

    worse = tmp_path / "worse"
    write_encoding_runs(str(worse), onehot_auc=0.75, embedding_auc=0.70)
    sections = report.build_report(str(worse), str(tmp_path / "worse.md"))
    verdicts = {section.claim[:2]: section.verdict for section in sections}
    assert verdicts["1."] == "fails"
    assert verdicts["2."] == "holds"


def test_report_tables_and_plots(tmp_path):
    runs = tmp_path / "runs"
    write_encoding_runs(str(runs), onehot_auc=0.70, embedding_auc=0.75)
    output = tmp_path / "docs" / "RESULTS.md"
    output.parent.mkdir()
    report.build_report(str(runs), str(output))
    text = output.read_text()
    assert "quick mode" in text
    assert "Machine: test-cpu, 2 CPU cores" in text
    assert "| flights/embedding_normal | 0.7510 ± 0.0010 (3) |" in text
    assert "python -m recipes.experiments.input_encoding --quick --seeds 0,1,2 --only flights/onehot" in text
    assert (tmp_path / "docs" / "results" / "claim1_flights_val_auc.png").stat().st_size > 0
    assert "](results/claim1_flights_val_auc.png)" in text


def test_full_runs_replace_quick_runs(tmp_path):
    write_run(str(tmp_path), "input_encoding", "flights/onehot", 0, {"auc": 0.5})
    folder = tmp_path / "input_encoding" / "flights" / "embedding_normal" / "seed0"
    write_run(str(tmp_path), "input_encoding", "flights/embedding_normal", 0, {"auc": 0.6}, mode="full")
    write_run(str(tmp_path), "input_encoding", "flights/embedding_normal", 1, {"auc": 0.7}, mode="quick")
    write_run(str(tmp_path), "input_encoding", "movielens/onehot", 0, {"auc": 0.7}, mode="quick")
    runs, modes = report.select_mode(report.load_runs(str(tmp_path)))
    assert modes == {"input_encoding": ["full", "quick"]}
    paths = sorted(run["path"] for run in runs)
    assert paths == sorted([str(folder), str(tmp_path / "input_encoding" / "movielens" / "onehot" / "seed0")])


def test_report_without_runs_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="No experiment runs"):
        report.build_report(str(tmp_path), str(tmp_path / "RESULTS.md"))


def write_stress_runs(root, accuracy_by_variant, majority):
    for variant, accuracy in accuracy_by_variant.items():
        for seed in range(3):
            write_run(root, "transformer_positions", f"stress/{variant}", seed,
                      {"accuracy": accuracy + 0.002 * seed, "majority_accuracy": majority, "macro_f1": 0.3,
                       "shuffled_prediction_change": 0.0 if variant == "none" else 0.1})


def test_untrained_encoders_are_undetermined(tmp_path):
    accuracies = {"none": 0.72, "learned": 0.72, "learned_concat": 0.72, "sinusoidal": 0.72, "sinusoidal_concat": 0.72}
    write_stress_runs(str(tmp_path / "untrained"), accuracies, majority=0.72)
    sections = report.build_report(str(tmp_path / "untrained"), str(tmp_path / "untrained.md"))
    verdicts = {section.claim[:2]: section.verdict for section in sections}
    assert verdicts["4."].startswith("undetermined (no encoder beats the majority-class accuracy")


def test_trained_encoders_get_verdicts(tmp_path):
    accuracies = {"none": 0.60, "learned": 0.80, "learned_concat": 0.80, "sinusoidal": 0.80, "sinusoidal_concat": 0.80}
    write_stress_runs(str(tmp_path / "trained"), accuracies, majority=0.50)
    sections = report.build_report(str(tmp_path / "trained"), str(tmp_path / "trained.md"))
    verdicts = {section.claim[:2]: section.verdict for section in sections}
    assert verdicts["4."] == "fails"
    assert verdicts["5."] == "fails"
    text = (tmp_path / "trained.md").read_text()
    assert "changes 0.0000 of the bidirectional NoPE encoder's predictions" in text


def test_run_time_lines_sum_wall_time_per_mode():
    runs = [
        {"experiment": "input_encoding", "mode": "full", "wall_seconds": 90.0},
        {"experiment": "input_encoding", "mode": "full", "wall_seconds": 30.0},
        {"experiment": "transformer_positions", "mode": "quick", "wall_seconds": 6.0},
    ]

    lines = report.run_time_lines(runs)

    assert lines == [
        "- Summed wall time of the reported full-mode runs: input_encoding 2.0 min (2 runs).",
        "- Summed wall time of the reported quick-mode runs: transformer_positions 0.1 min (1 run).",
    ]

"""`zoo report`: turn the experiment runs into docs/RESULTS.md with tables, plots and verdicts.

The report reads every `metrics.json` under the runs folder (see `recipes.experiments`),
groups the runs by experiment and variant, and writes one section per claim: a table of
mean, standard deviation and number of seeds, plots as PNG files, the command that
reproduces each row, and a verdict computed from the numbers by `VERDICT_RULE`. Within a
group of variants (a data set, task or split), full-mode runs replace quick-mode ones, and
each table names the mode of its rows.

Example:
    zoo report
    python -m recipes.report --runs runs/experiments --output docs/RESULTS.md
"""

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import sys

import numpy as np

DEFAULT_RUNS = os.path.join("runs", "experiments")
DEFAULT_OUTPUT = os.path.join("docs", "RESULTS.md")
FIGURES_FOLDER = "results"
STANDARD_ERRORS = 2.0
VERDICT_RULE = (
    "For a claim that variant B beats variant A, d is the difference of the seed means in the "
    "claimed direction and SE = sqrt(s_A^2 / n_A + s_B^2 / n_B) with sample standard deviations. "
    f"The claim holds if d > {STANDARD_ERRORS:g} SE and fails otherwise. For a claim that B loses "
    f"nothing against A, the claim fails if B is worse by more than {STANDARD_ERRORS:g} SE and holds "
    "otherwise. Either rule needs at least 2 seeds per variant, or the verdict is 'undetermined'. "
    "A claim with several comparisons holds if all hold, fails if all fail, and otherwise "
    "depends on the factor that separates them."
)
SCALE_NOTE = (
    "Scale: these models and data sets are far smaller than the published ones. CoordConv "
    "(Liu et al. 2018, arXiv 1807.03247) reports 100% test accuracy for coordinate "
    "classification with coordinate channels against at most ~86% for a plain ConvNet on the "
    "uniform split and ~0% on the held-out quadrant. Haviv et al. 2022 (arXiv 2203.16634) "
    "report masked-LM perplexity ~147 without positions against ~4 with them for a "
    "bidirectional model, while causal LMs without positions come close to those with them. "
    "Kazemnejad et al. 2023 (arXiv 2305.19466) train decoder-only transformers of about 107M "
    "parameters on copy, reverse and other tasks with inputs up to length 20, test on lengths up "
    "to 40 by exact match. They find no positional encoding (NoPE) generalizing best, ahead of "
    "ALiBi, rotary and absolute positions. The copy and reverse decoders here have 69,000 to 72,000 parameters and "
    "train on lengths up to 10 (full mode). "
    "The numbers here come from small models trained for a few epochs on one CPU machine and "
    "are not comparable to those figures in absolute terms; only the directions are."
)


# ---- statistics and verdicts -------------------------------------------------------------


@dataclasses.dataclass
class Summary:
    """Mean, sample standard deviation and count of one metric over seeds."""

    mean: float
    std: float
    n: int

    @property
    def standard_error(self):
        return self.std / math.sqrt(self.n) if self.n > 0 else float("nan")

    def format(self, digits=4):
        if self.n == 0:
            return "-"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} ({self.n})"


def summarize(values):
    """Summarize finite values; the standard deviation is the sample one (ddof=1), 0 for n=1."""
    values = [float(value) for value in values if value is not None and math.isfinite(float(value))]
    if not values:
        return Summary(float("nan"), float("nan"), 0)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return Summary(float(np.mean(values)), std, len(values))


@dataclasses.dataclass
class Verdict:
    """The outcome of one comparison: "holds", "fails" or "undetermined", and its numbers."""

    verdict: str
    difference: float
    standard_error: float
    description: str
    reason: str = "fewer than 2 seeds per variant"

    def format(self):
        if self.verdict == "undetermined":
            return f"{self.description}: undetermined ({self.reason})"
        return (
            f"{self.description}: **{self.verdict}** (d = {self.difference:+.4g}, "
            f"SE = {self.standard_error:.3g}, d / SE = {_ratio(self.difference, self.standard_error)})"
        )


def _ratio(difference, standard_error):
    if standard_error != 0:
        return f"{difference / standard_error:+.2f}"
    if difference == 0:
        return "0"
    if difference > 0:
        return "+inf"
    return "-inf"


def _difference(baseline, candidate, higher_is_better):
    sign = 1.0 if higher_is_better else -1.0
    # Adding 0.0 turns a negative zero into 0.0, so equal means print as "+0".
    difference = sign * (candidate.mean - baseline.mean) + 0.0
    standard_error = math.sqrt(baseline.std**2 / baseline.n + candidate.std**2 / candidate.n)
    return difference, standard_error


def verdict_better(baseline, candidate, higher_is_better, description):
    """Judge the claim "candidate beats baseline" with the rule in `VERDICT_RULE`.

    Args:
        baseline, candidate: `Summary`s of the same metric.
        higher_is_better: whether a larger metric is better.
        description: what the comparison is, for the report.

    Example:
    >>> verdict_better(Summary(0.70, 0.01, 3), Summary(0.75, 0.01, 3), True, "B > A").verdict
    'holds'
    """
    if baseline.n < 2 or candidate.n < 2:
        return Verdict("undetermined", float("nan"), float("nan"), description)
    difference, standard_error = _difference(baseline, candidate, higher_is_better)
    holds = difference > STANDARD_ERRORS * standard_error
    return Verdict("holds" if holds else "fails", difference, standard_error, description)


def verdict_no_worse(baseline, candidate, higher_is_better, description):
    """Judge the claim "candidate loses nothing against baseline" with the rule in `VERDICT_RULE`.

    Example:
    >>> verdict_no_worse(Summary(0.75, 0.01, 3), Summary(0.70, 0.01, 3), True, "B = A").verdict
    'fails'
    """
    if baseline.n < 2 or candidate.n < 2:
        return Verdict("undetermined", float("nan"), float("nan"), description)
    difference, standard_error = _difference(baseline, candidate, higher_is_better)
    fails = difference < -STANDARD_ERRORS * standard_error
    return Verdict("fails" if fails else "holds", difference, standard_error, description)


def combine_verdicts(verdicts, factor):
    """Combine the comparisons of one claim into "holds", "fails", "undetermined" or "depends on ...".

    Example:
    >>> combine_verdicts([Verdict("holds", 1, 0.1, "flights"), Verdict("fails", 0, 0.1, "movielens")],
    ...                  "the data set")
    'depends on the data set: holds for flights; fails for movielens'
    """
    if not verdicts:
        return "undetermined (no runs)"
    outcomes = {verdict.verdict for verdict in verdicts}
    if "undetermined" in outcomes:
        reasons = sorted({verdict.reason for verdict in verdicts if verdict.verdict == "undetermined"})
        return f"undetermined ({'; '.join(reasons)})"
    if outcomes == {"holds"}:
        return "holds"
    if outcomes == {"fails"}:
        return "fails"
    held = [verdict.description for verdict in verdicts if verdict.verdict == "holds"]
    failed = [verdict.description for verdict in verdicts if verdict.verdict == "fails"]
    return f"depends on {factor}: holds for {', '.join(held)}; fails for {', '.join(failed)}"


# ---- reading runs ------------------------------------------------------------------------


def load_runs(roots):
    """Return the metrics of every complete run under `roots` (a folder or a list of folders).

    Each run's folder is added to its metrics as `"path"`.
    """
    roots = [roots] if isinstance(roots, str) else list(roots)
    runs = []
    for folder, _, files in (entry for root in roots for entry in os.walk(root)):
        if "metrics.json" in files:
            with open(os.path.join(folder, "metrics.json")) as file:
                metrics = json.load(file)
            if "experiment" in metrics and "variant" in metrics:
                metrics["path"] = folder
                runs.append(metrics)
    return runs


def select_mode(runs):
    """Keep, per group of variants, the "full" runs if the group has any, else the "quick" ones.

    A group is the part of a variant name before "/" (a data set, task or split), so every
    comparison inside a group uses runs of one mode. Variants without full runs drop out of a
    group that has some.

    Returns:
        `(runs, modes)`, where `modes` maps each experiment to the sorted modes it keeps.
    """
    found = {}
    for run in runs:
        found.setdefault(_group(run), set()).add(run.get("mode", "quick"))
    chosen = {key: "full" if "full" in modes else "quick" for key, modes in found.items()}
    kept = [run for run in runs if run.get("mode", "quick") == chosen[_group(run)]]
    modes = {}
    for (experiment, _), mode in chosen.items():
        modes.setdefault(experiment, set()).add(mode)
    return kept, {experiment: sorted(values) for experiment, values in modes.items()}


def _group(run):
    return run["experiment"], run["variant"].split("/")[0]


class RunTable:
    """The runs of one experiment, grouped by variant, with metric lookups."""

    def __init__(self, runs, experiment):
        self.experiment = experiment
        self.by_variant = {}
        for run in runs:
            if run["experiment"] == experiment:
                self.by_variant.setdefault(run["variant"], []).append(run)
        for variant_runs in self.by_variant.values():
            variant_runs.sort(key=lambda run: run["seed"])

    def mode(self, variant):
        runs = self.by_variant.get(variant, [])
        return runs[0].get("mode", "quick") if runs else ""

    @property
    def mixed_modes(self):
        return len({self.mode(variant) for variant in self.by_variant}) > 1

    def variants(self, prefix=""):
        return sorted(variant for variant in self.by_variant if variant.startswith(prefix))

    def values(self, variant, path):
        """Return one value per seed of a dotted metric path such as `"test.auc"`."""
        values = []
        for run in self.by_variant.get(variant, []):
            value = run
            for key in path.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        return values

    def summary(self, variant, path):
        return summarize(self.values(variant, path))

    def command(self, variant):
        runs = self.by_variant.get(variant, [])
        if not runs:
            return ""
        seeds = ",".join(str(run["seed"]) for run in runs)
        return f"python -m recipes.experiments.{self.experiment} --{runs[0].get('mode', 'quick')} --seeds {seeds} --only {variant}"

    def mean_curve(self, variant, key):
        curves = [run["history"][key] for run in self.by_variant.get(variant, []) if key in run.get("history", {})]
        if not curves:
            return None
        length = min(len(curve) for curve in curves)
        return np.mean([curve[:length] for curve in curves], axis=0)


# ---- Markdown and plots ------------------------------------------------------------------


def markdown_table(table, variants, columns, name_of=lambda variant: variant):
    """Format rows of `mean ± std (n)` cells; `columns` is a list of (header, path, digits)."""
    header = "| variant | " + " | ".join(column[0] for column in columns) + " |"
    lines = [header, "|" + " --- |" * (len(columns) + 1)]
    for variant in variants:
        cells = [table.summary(variant, path).format(digits) for _, path, digits in columns]
        name = name_of(variant)
        if table.mixed_modes:
            name = f"{name} ({table.mode(variant)} mode)"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def command_list(table, variants):
    lines = ["Commands that reproduce each row:", ""]
    lines += [f"- `{table.command(variant)}`" for variant in variants]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def plot_curves(table, variants, key, ylabel, path, title):
    """Plot the seed-mean validation curve of each variant; return `path`, or None without data."""
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(6, 4))
    plotted = False
    for variant in variants:
        curve = table.mean_curve(variant, key)
        if curve is not None:
            axis.plot(np.arange(1, len(curve) + 1), curve, marker="o", label=variant.split("/")[-1])
            plotted = True
    axis.set_xlabel("epoch")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    if plotted:
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path if plotted else None


def plot_by_length(table, variants, path, title):
    """Plot the seed-mean exact match per test length of each variant."""
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(6, 4))
    for variant in variants:
        per_seed = [run["test"].get("test_exact_match_by_length") for run in table.by_variant[variant]]
        per_seed = [scores for scores in per_seed if scores]
        if not per_seed:
            continue
        lengths = sorted(per_seed[0], key=int)
        means = [np.mean([scores[length] for scores in per_seed]) for length in lengths]
        axis.plot([int(length) for length in lengths], means, marker="o", label=variant.split("/")[-1])
    axis.set_xlabel("input length (all longer than in training)")
    axis.set_ylabel("exact match")
    axis.set_ylim(-0.05, 1.05)
    axis.set_title(title)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def plot_bars(table, variants, metric_path, ylabel, path, title):
    """Plot one bar per variant: seed mean with a standard-deviation error bar."""
    pyplot = _pyplot()
    summaries = [table.summary(variant, metric_path) for variant in variants]
    figure, axis = pyplot.subplots(figsize=(6, 4))
    axis.bar(range(len(variants)), [s.mean for s in summaries], yerr=[s.std for s in summaries], capsize=3)
    axis.set_xticks(range(len(variants)))
    axis.set_xticklabels([variant.split("/")[-1] for variant in variants], rotation=30, ha="right", fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def plot_position_tables(tables, path):
    """Draw position tables side by side as images (rows = positions, columns = features)."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(1, len(tables), figsize=(4 * len(tables), 3.5), squeeze=False)
    for axis, (name, values) in zip(axes[0], tables.items()):
        image = axis.imshow(values, aspect="auto", cmap="coolwarm")
        axis.set_title(name)
        axis.set_xlabel("feature")
        axis.set_ylabel("position")
        figure.colorbar(image, ax=axis)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def reference_position_tables(length=16, dim=32, learned_path=None):
    """Return the beta and sinusoidal tables the zoo adds to tokens, plus a trained learned table."""
    from recipes.tensorboard_views import position_table

    tables = {
        "beta (Beta(0.5, 0.5), seed 0)": position_table("beta", length, dim),
        "sinusoidal": position_table("sinusoidal", length, dim),
    }
    if learned_path and os.path.isfile(learned_path):
        tables["learned (trained, seed 0)"] = np.load(learned_path)
    return tables


def plot_coordinate_channels(path, size=32):
    """Draw the channels that the "coords" and "beta" ConvNet variants add to an image."""
    from zoo.convnet import positional_channels

    pyplot = _pyplot()
    channels = []
    zeros = np.zeros((1, size, size, 1), dtype=np.float32)
    coords = np.asarray(positional_channels("coords", (size, size, 1))(zeros))[0, :, :, 1:]
    channels += [("coords x", coords[:, :, 0]), ("coords y", coords[:, :, 1])]
    # The beta variant adds the two coordinate channels first, then its fixed Beta maps.
    beta = np.asarray(positional_channels("beta", (size, size, 1))(zeros))[0, :, :, 3:]
    channels += [(f"beta map {index}", beta[:, :, index]) for index in range(min(beta.shape[-1], 3))]
    figure, axes = pyplot.subplots(1, len(channels), figsize=(2.2 * len(channels), 2.4))
    for axis, (name, values) in zip(axes, channels):
        axis.imshow(values, cmap="gray")
        axis.set_title(name, fontsize=8)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


# ---- sections ----------------------------------------------------------------------------


@dataclasses.dataclass
class Section:
    """One claim's part of the report: its Markdown and its overall verdict."""

    claim: str
    verdict: str
    markdown: str


def _image(path, markdown_dir, alt):
    if path is None:
        return ""
    return f"![{alt}]({os.path.relpath(path, markdown_dir)})"


def _verdict_lines(verdicts):
    return "\n".join(f"- {verdict.format()}" for verdict in verdicts)


def section_claim_1(table, figures, markdown_dir):
    """Claim 1: one-hot inputs train slower and generalize worse than normal(0, 1) embeddings."""
    columns = [
        ("test AUC (best val epoch)", "test.auc", 4), ("test log loss", "test.loss", 4),
        ("val AUC (best)", "validation.auc", 4), ("best epoch", "best_epoch", 1),
        ("epochs to 95% of best val AUC", "epochs_to_95_percent", 2),
        ("seconds to 95%", "seconds_to_95_percent", 1), ("parameters", "parameters", 0),
        ("hidden_0 activation mean", "first_layer_activations.mean", 3),
        ("hidden_0 activation std", "first_layer_activations.std", 3),
    ]
    parts, verdicts, side = [], [], []
    for dataset in ("flights", "movielens"):
        variants = table.variants(f"{dataset}/")
        if not variants:
            continue
        onehot, embedding = f"{dataset}/onehot", f"{dataset}/embedding_normal"
        verdicts.append(verdict_better(table.summary(onehot, "test.auc"), table.summary(embedding, "test.auc"),
                                       True, f"{dataset}: embedding_normal test AUC > onehot"))
        verdicts.append(verdict_better(table.summary(onehot, "epochs_to_95_percent"),
                                       table.summary(embedding, "epochs_to_95_percent"), False,
                                       f"{dataset}: embedding_normal reaches 95% of its best val AUC in fewer epochs"))
        side.append(verdict_better(table.summary(onehot, "test.auc"),
                                   table.summary(f"{dataset}/onehot_standardized", "test.auc"), True,
                                   f"{dataset}: standardized one-hot test AUC > 0/1 one-hot"))
        figure = plot_curves(table, variants, "val_auc", "validation AUC",
                             os.path.join(figures, f"claim1_{dataset}_val_auc.png"), f"{dataset}: validation AUC")
        parts += [f"### {dataset}", "", markdown_table(table, variants, columns), "",
                  _image(figure, markdown_dir, f"{dataset} validation AUC per epoch"), "",
                  command_list(table, variants), ""]
    verdict = combine_verdicts(verdicts, "the data set and the aspect")
    body = "\n".join(parts + ["Comparisons:", "", _verdict_lines(verdicts), "",
                              "Side comparison (not part of the verdict): does standardizing the one-hot "
                              "columns (zero mean, unit variance) close the gap?", "", _verdict_lines(side)])
    return Section("1. One-hot inputs train slower and generalize worse than a normal(0, 1) embedding", verdict, body)


def section_claim_2(table, figures, markdown_dir):
    """Claim 2: a frozen embedding loses nothing against a trainable one."""
    columns = [("test AUC", "test.auc", 4), ("test log loss", "test.loss", 4),
               ("trainable parameters", "trainable_parameters", 0), ("parameters", "parameters", 0)]
    variants, verdicts = [], []
    for dataset in ("flights", "movielens"):
        pair = [f"{dataset}/embedding_normal", f"{dataset}/frozen"]
        if not all(variant in table.by_variant for variant in pair):
            continue
        variants += pair
        verdicts.append(verdict_no_worse(table.summary(pair[0], "test.auc"), table.summary(pair[1], "test.auc"),
                                         True, f"{dataset}: frozen test AUC no worse than trainable"))
    body = "\n".join([markdown_table(table, variants, columns), "", command_list(table, variants), "",
                      "Comparisons:", "", _verdict_lines(verdicts)])
    return Section("2. An embedding followed by a linear layer can be frozen", combine_verdicts(verdicts, "the data set"), body)


STRESS_COLUMNS = [("test accuracy", "test.accuracy", 4), ("test macro-F1", "test.macro_f1", 4),
                  ("share of predictions changed by shuffled letters", "test.shuffled_prediction_change", 4),
                  ("majority-class accuracy", "test.majority_accuracy", 4), ("parameters", "parameters", 0)]


def untrained(verdicts, reason):
    """Mark comparisons undetermined because the models did not learn the task at all."""
    return [Verdict("undetermined", verdict.difference, verdict.standard_error, verdict.description, reason)
            for verdict in verdicts]


def stress_learned(table):
    """Return whether some encoder beats the majority-class accuracy by more than 2 SE."""
    variants = table.variants("stress/")
    if not variants:
        return False
    best = max(variants, key=lambda variant: table.summary(variant, "test.accuracy").mean)
    return verdict_better(table.summary(best, "test.majority_accuracy"), table.summary(best, "test.accuracy"),
                          True, "learned").verdict == "holds"


def length_task_learned(table, task):
    """Return whether some decoder copies or reverses at least half of the training-length inputs."""
    means = [table.summary(variant, "test.validation_exact_match").mean for variant in table.variants(f"{task}/")]
    return bool(means) and max(means) >= LEARNED_EXACT_MATCH


NOT_LEARNED_STRESS = "no encoder beats the majority-class accuracy by 2 SE, so the models did not learn the task"
LEARNED_EXACT_MATCH = 0.5


def section_claim_3(table, figures, markdown_dir):
    """Claim 3: a fixed random U-shaped Beta table works as a positional encoding."""
    stress = ["stress/none", "stress/beta", "stress/sinusoidal", "stress/learned"]
    stress = [variant for variant in stress if variant in table.by_variant]
    lm = [variant for variant in ("lm/none", "lm/beta", "lm/sinusoidal") if variant in table.by_variant]
    verdicts = [
        verdict_better(table.summary("stress/none", "test.accuracy"), table.summary("stress/beta", "test.accuracy"),
                       True, "stress: beta accuracy > no positions"),
        verdict_no_worse(table.summary("stress/sinusoidal", "test.accuracy"),
                         table.summary("stress/beta", "test.accuracy"), True,
                         "stress: beta accuracy no worse than sinusoidal"),
        verdict_no_worse(table.summary("lm/sinusoidal", "test.bits_per_character"),
                         table.summary("lm/beta", "test.bits_per_character"), False,
                         "byte LM: beta bits per character no worse than sinusoidal"),
    ]
    if not stress_learned(table):
        verdicts[:2] = untrained(verdicts[:2], NOT_LEARNED_STRESS)
    learned = os.path.join(table.by_variant["stress/learned"][0]["path"], "position_table.npy") \
        if "stress/learned" in table.by_variant else None
    figure = plot_position_tables(reference_position_tables(learned_path=learned),
                                  os.path.join(figures, "claim3_position_tables.png"))
    body = "\n".join([
        markdown_table(table, stress, STRESS_COLUMNS), "",
        markdown_table(table, lm, [("test bits per character", "test.bits_per_character", 4)]), "",
        _image(figure, markdown_dir, "Beta, sinusoidal and learned position tables"), "",
        command_list(table, stress + lm), "", "Comparisons:", "", _verdict_lines(verdicts)])
    return Section("3. A positional encoding x + pe can be drawn once from a U-shaped Beta distribution",
                   combine_verdicts(verdicts, "the comparison"), body)


def section_claim_4(table, figures, markdown_dir):
    """Claim 4: summing cannot pack token and position into one vector, so concatenation wins."""
    variants, verdicts = [], []
    for scheme in ("learned", "sinusoidal"):
        pair = [f"stress/{scheme}", f"stress/{scheme}_concat"]
        if not all(variant in table.by_variant for variant in pair):
            continue
        variants += pair
        verdicts.append(verdict_better(table.summary(pair[0], "test.accuracy"), table.summary(pair[1], "test.accuracy"),
                                       True, f"{scheme}: concatenated accuracy > summed"))
    if not stress_learned(table):
        verdicts = untrained(verdicts, NOT_LEARNED_STRESS)
    body = "\n".join([markdown_table(table, variants, STRESS_COLUMNS[:2] + [("parameters", "parameters", 0)]), "",
                      command_list(table, variants), "", "Comparisons:", "", _verdict_lines(verdicts)])
    return Section("4. Summing token and position embeddings cannot pack several features into one",
                   combine_verdicts(verdicts, "the scheme"), body)


def _best_other(table, prefix, path, higher_is_better):
    candidates = [variant for variant in table.variants(prefix)
                  if not variant.endswith("/none") and "concat" not in variant]
    if not candidates:
        return None
    sign = 1 if higher_is_better else -1
    return max(candidates, key=lambda variant: sign * table.summary(variant, path).mean)


def section_claim_5(table, figures, markdown_dir):
    """Claim 5: NoPE loses nothing; bidirectional and causal results side by side."""
    comparisons = [
        ("bidirectional encoder, stress accuracy", "stress/", "test.accuracy", True),
        ("causal byte LM, bits per character", "lm/", "test.bits_per_character", False),
        ("causal decoder, copy, exact match on longer inputs", "copy/", "test.exact_match", True),
        ("causal decoder, reverse, exact match on longer inputs", "reverse/", "test.exact_match", True),
    ]
    lines = ["| model | metric | NoPE | best other scheme | best other |", "| --- | --- | --- | --- | --- |"]
    verdicts = []
    for description, prefix, path, higher in comparisons:
        best = _best_other(table, prefix, path, higher)
        none = f"{prefix}none"
        if best is None or none not in table.by_variant:
            continue
        lines.append(f"| {description.split(',')[0]} | {description.split(', ', 1)[1]} | "
                     f"{table.summary(none, path).format()} | {best.split('/')[-1]} | {table.summary(best, path).format()} |")
        verdict = verdict_no_worse(table.summary(best, path), table.summary(none, path), higher,
                                   f"{description}: NoPE no worse than {best.split('/')[-1]}")
        if prefix == "stress/" and not stress_learned(table):
            verdict = untrained([verdict], NOT_LEARNED_STRESS)[0]
        if prefix in ("copy/", "reverse/") and not length_task_learned(table, prefix[:-1]):
            verdict = untrained([verdict], f"no decoder reaches {LEARNED_EXACT_MATCH:g} exact match at training "
                                           "lengths, so the models did not learn the task")[0]
        verdicts.append(verdict)
    figures_md = []
    for task in ("copy", "reverse"):
        variants = table.variants(f"{task}/")
        if variants:
            figure = plot_by_length(table, variants, os.path.join(figures, f"claim5_{task}_by_length.png"),
                                    f"{task}: exact match by test length")
            figures_md.append(_image(figure, markdown_dir, f"{task} exact match by length"))
    lm_variants = table.variants("lm/")
    figure = plot_curves(table, lm_variants, "val_loss", "validation loss (nats per byte)",
                         os.path.join(figures, "claim5_lm_val_loss.png"), "byte LM: validation loss")
    figures_md.append(_image(figure, markdown_dir, "byte LM validation loss"))
    stress_variants = table.variants("stress/")
    figure = plot_curves(table, stress_variants, "val_accuracy", "validation accuracy",
                         os.path.join(figures, "claim5_stress_val_accuracy.png"), "stress: validation accuracy")
    figures_md.append(_image(figure, markdown_dir, "stress validation accuracy"))

    shuffle = table.summary("stress/none", "test.shuffled_prediction_change")
    others = [table.summary(variant, "test.shuffled_prediction_change").mean
              for variant in stress_variants if not variant.endswith("/none")]
    shuffle_line = (
        f"Order blindness: shuffling each test word's letters changes {shuffle.mean:.4f} of the bidirectional "
        f"NoPE encoder's predictions (mean over {shuffle.n} seeds) and between "
        f"{min(others):.4f} and {max(others):.4f} of the other encoders' predictions."
        if shuffle.n and others else "")
    all_variants = stress_variants + lm_variants + table.variants("copy/") + table.variants("reverse/")
    length_columns = [("exact match, longer test inputs", "test.exact_match", 3),
                      ("exact match, training lengths (validation)", "test.validation_exact_match", 3)]
    body = "\n".join(
        ["NoPE in a bidirectional encoder next to NoPE in causal decoders:", "", *lines, "", shuffle_line, "",
         markdown_table(table, stress_variants, STRESS_COLUMNS[:3]), "",
         markdown_table(table, lm_variants, [("test bits per character", "test.bits_per_character", 4)]), "",
         markdown_table(table, table.variants("copy/") + table.variants("reverse/"), length_columns), "",
         *figures_md, "", command_list(table, all_variants), "", "Comparisons:", "", _verdict_lines(verdicts)])
    verdict = combine_verdicts(verdicts, "the attention direction and task")
    return Section("5. Transformers lose nothing without positional encoding (NoPE)", verdict, body)


CONVNET_GROUPS = (
    ("regression", "test.mean_absolute_error_pixels", False, "test centre error (pixels)"),
    ("heatmap", "test.accuracy", True, "test centre-pixel accuracy"),
    ("placed", "test.mean_absolute_error_pixels", False, "test item-centre error (pixels)"),
)


def section_claim_6(table, figures, markdown_dir):
    """Claim 6: positional input channels help ConvNets locate things (CoordConv)."""
    parts, verdicts = [], []
    for group, path, higher, label in CONVNET_GROUPS:
        for split in ("uniform", "quadrant"):
            variants = table.variants(f"{group}_{split}/")
            if not variants:
                continue
            none, coords = f"{group}_{split}/none", f"{group}_{split}/coords"
            verdicts.append(verdict_better(table.summary(none, path), table.summary(coords, path), higher,
                                           f"{group} on the {split} split"))
            figure = plot_bars(table, variants, path, label, os.path.join(figures, f"claim6_{group}_{split}.png"),
                               f"{group}, {split} split")
            columns = [(label, path, 4), ("val loss (best)", "validation.loss", 4), ("parameters", "parameters", 0)]
            parts += [f"### {group}, {split} split", "", markdown_table(table, variants, columns), "",
                      _image(figure, markdown_dir, f"{group} {split}"), "", command_list(table, variants), ""]
    channels = plot_coordinate_channels(os.path.join(figures, "claim6_coordinate_channels.png"))
    body = "\n".join(parts + [_image(channels, markdown_dir, "coordinate and beta channels"), "",
                              "Comparisons (coords beats none):", "", _verdict_lines(verdicts)])
    return Section("6. Positional input channels help ConvNets (CoordConv)",
                   combine_verdicts(verdicts, "the task and split"), body)


# ---- the document ------------------------------------------------------------------------


def machine_line(runs):
    environment = runs[0].get("environment", {}) if runs else {}
    return (f"{environment.get('processor', platform.processor() or platform.machine())}, "
            f"{environment.get('cpu_count', os.cpu_count())} CPU cores, GPUs: {environment.get('gpus') or 'none'}; "
            f"TensorFlow {environment.get('tensorflow', '?')}, Keras {environment.get('keras', '?')}, "
            f"Python {environment.get('python', platform.python_version())}")


def timing_lines(roots):
    lines = []
    for root, mode in ((root, mode) for root in roots for mode in ("quick", "full")):
        path = os.path.join(root, f"timing_{mode}.json")
        if os.path.isfile(path):
            with open(path) as file:
                timing = json.load(file)
            per_experiment = ", ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in timing["seconds"].items())
            lines.append(f"- `run_all --{mode}` finished {timing['finished_at']}: {timing['total_seconds'] / 60:.1f} min "
                         f"in total ({per_experiment}); load average at the end {timing['load_average'][0]:.1f} "
                         f"on {timing['cpu_count']} cores. Runs already finished before that call were skipped.")
    return lines


def run_time_lines(runs):
    """Return one line per mode: the summed wall time of the reported runs, per experiment.

    The sum counts each run's training, evaluation and logging, whichever call of the
    experiment ran it, so it is the compute time a repeat of those runs needs.
    """
    totals = {}
    for run in runs:
        key = (run.get("mode", "quick"), run["experiment"])
        count, seconds = totals.get(key, (0, 0.0))
        totals[key] = (count + 1, seconds + float(run.get("wall_seconds", 0.0)))
    lines = []
    for mode in sorted({mode for mode, _ in totals}):
        parts = [f"{experiment} {seconds / 60:.1f} min ({count} run{'' if count == 1 else 's'})"
                 for (run_mode, experiment), (count, seconds) in sorted(totals.items()) if run_mode == mode]
        lines.append(f"- Summed wall time of the reported {mode}-mode runs: {', '.join(parts)}.")
    return lines


def build_report(roots, output, figures=None):
    """Write the Markdown report and its figures; return the list of `Section`s.

    Args:
        roots: the runs folder, or a list of them.
        output: path of the Markdown file.
        figures: folder of the PNG files; defaults to `results/` beside `output`.
    """
    roots = [roots] if isinstance(roots, str) else list(roots)
    runs, modes = select_mode(load_runs(roots))
    if not runs:
        raise FileNotFoundError(
            f"No experiment runs (metrics.json) found under {', '.join(roots)}. "
            "Run `python -m recipes.experiments.run_all --quick` first, or pass --runs.")
    markdown_dir = os.path.dirname(os.path.abspath(output))
    figures = figures or os.path.join(markdown_dir, FIGURES_FOLDER)
    os.makedirs(figures, exist_ok=True)

    encoding = RunTable(runs, "input_encoding")
    transformer = RunTable(runs, "transformer_positions")
    convnet = RunTable(runs, "convnet_positions_claims")
    sections = []
    if encoding.by_variant:
        sections += [section_claim_1(encoding, figures, markdown_dir), section_claim_2(encoding, figures, markdown_dir)]
    if transformer.by_variant:
        sections += [section(transformer, figures, markdown_dir)
                     for section in (section_claim_3, section_claim_4, section_claim_5)]
    if convnet.by_variant:
        sections.append(section_claim_6(convnet, figures, markdown_dir))

    text = render(runs, modes, sections, roots)
    with open(output, "w") as file:
        file.write(text)
    return sections


def render(runs, modes, sections, roots):
    """Return the whole Markdown document."""
    dates = sorted(run.get("finished_at", "") for run in runs if run.get("finished_at"))
    mode_text = ", ".join(
        f"{experiment}: **{' and '.join(found)} mode**" for experiment, found in sorted(modes.items()))
    lines = [
        "# Results: the claims under test",
        "",
        "Generated by `zoo report` from the runs under "
        f"{', '.join(f'`{os.path.relpath(root)}`' for root in roots)}; do not edit by hand.",
        "",
        f"- Mode: {mode_text}. Quick mode trains tiny models on small slices for a few epochs; "
        "its numbers check the pipeline and show directions at best.",
        f"- Runs: {len(runs)}, finished between {dates[0] if dates else '?'} and {dates[-1] if dates else '?'}.",
        f"- Report written: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}.",
        f"- Machine: {machine_line(runs)}.",
        *timing_lines(roots),
        *run_time_lines(runs),
        "- Reproduce: `python -m recipes.experiments.run_all --quick` (or `--full`) trains every run and "
        "writes this file; `zoo report --runs FOLDER...` rewrites it from existing runs; "
        "`tensorboard --logdir runs/experiments/<experiment>` compares the runs in the HParams dashboard.",
        "- Fairness: within each experiment every variant gets the same epochs, batch size, learning "
        "rate and data, with no per-variant tuning; metrics are taken at each run's best validation epoch.",
        "",
        f"Verdict rule: {VERDICT_RULE}",
        "",
        SCALE_NOTE,
        "",
        "## Summary",
        "",
        "| claim | verdict |",
        "| --- | --- |",
    ]
    lines += [f"| {section.claim} | {section.verdict} |" for section in sections]
    for section in sections:
        lines += ["", f"## {section.claim}", "", f"**Verdict: {section.verdict}**", "", section.markdown]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="zoo report", description="Write docs/RESULTS.md from the experiment runs.")
    parser.add_argument("--runs", nargs="+", default=[DEFAULT_RUNS],
                        help=f"one or more runs folders (default {DEFAULT_RUNS})")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help=f"Markdown file to write (default {DEFAULT_OUTPUT})")
    parser.add_argument("--figures", default=None, help="folder of the PNG plots (default: results/ beside --output)")
    return parser.parse_args(argv)


def main(argv=None):
    """Write the report; return the exit status."""
    args = parse_args(argv)
    sections = build_report(args.runs, args.output, args.figures)
    for section in sections:
        print(f"{section.claim}: {section.verdict}")
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `zoo` command: browse the registry, show model cards, run recipes.

Example:
    zoo list 'convnet-*'
    zoo info convnet-coords.fashion_mnist
    zoo train convnet_positions --epochs 2
"""

import argparse
import importlib
import json
import logging
import sys

from recipes.errors import error_message

# Recipe names accepted by `zoo train`, mapped to their modules (each has `main(argv)`).
RECIPES = {
    "convnet_positions": "recipes.convnet_positions",
    "pretrained": "recipes.train_pretrained",
    "input_encoding": "recipes.experiments.input_encoding",
    "transformer_positions": "recipes.experiments.transformer_positions",
    "convnet_positions_claims": "recipes.experiments.convnet_positions_claims",
    "experiments": "recipes.experiments.run_all",
}


class UsageError(Exception):
    """A user error reported as one line without a traceback (unless --verbose)."""


def _list(args):
    import zoo

    names = zoo.list_models(args.pattern, pretrained=True if args.pretrained else None)
    if not names:
        raise UsageError(f"No registered model matches {args.pattern!r}. Run `zoo list` to see them all.")
    if args.markdown:
        print(markdown_table(names))
        return 0
    width = max(len(name) for name in names)
    print(f"{'name':<{width}}  pretrained  description")
    for name in names:
        spec = zoo.get_spec(name)
        flag = "yes" if zoo.has_pretrained(name) else "-"
        print(f"{name:<{width}}  {flag:<10}  {spec.description}")
    return 0


def _pretrained_summary(name):
    import zoo

    if not zoo.has_pretrained(name):
        return "-"
    card = zoo.read_card(name)
    metric = card["metrics"]["primary"]
    value = card["metrics"]["test"][metric]
    return f"test {metric} {value:.4f}, {card['training']['epochs']} epochs"


def markdown_table(names):
    """Format registry entries as a Markdown table: name, description, pretrained metric."""
    import zoo

    lines = ["| model | description | pretrained (test metric) |", "| --- | --- | --- |"]
    for name in names:
        lines.append(f"| `{name}` | {zoo.get_spec(name).description} | {_pretrained_summary(name)} |")
    return "\n".join(lines)


def _info(args):
    import zoo

    spec = zoo.get_spec(args.name)
    info = {
        "name": spec.name,
        "family": spec.family,
        "variant": spec.variant,
        "dataset": spec.dataset,
        "description": spec.description,
        "arguments": spec.arguments,
        "pretrained": zoo.has_pretrained(spec.name),
    }
    if info["pretrained"]:
        info["card"] = zoo.read_card(spec.name)
    print(json.dumps(info, indent=2, default=str))
    return 0


def _train(args):
    if args.recipe not in RECIPES:
        import difflib

        matches = difflib.get_close_matches(args.recipe, RECIPES, n=2)
        hint = f" Did you mean {matches[0]!r}?" if matches else ""
        raise UsageError(f"Unknown recipe {args.recipe!r}.{hint} Recipes: {', '.join(sorted(RECIPES))}.")
    module = importlib.import_module(RECIPES[args.recipe])
    return module.main(args.recipe_args)


def _report(args):
    from recipes import report

    argv = ["--runs", *args.runs, "--output", args.output]
    if args.figures:
        argv += ["--figures", args.figures]
    return report.main(argv)


def build_parser():
    parser = argparse.ArgumentParser(prog="zoo", description="Encoding zoo: models, recipes and reports.")
    parser.add_argument("--verbose", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    list_parser = commands.add_parser("list", help="list registered models")
    list_parser.add_argument("pattern", nargs="?", default=None, help="shell-style name pattern, e.g. 'convnet-*'")
    list_parser.add_argument("--pretrained", action="store_true", help="only models with pretrained weights")
    list_parser.add_argument("--markdown", action="store_true", help="print a Markdown table (the docs/models.md format)")
    list_parser.set_defaults(handler=_list)

    info_parser = commands.add_parser("info", help="show a model's configuration and card")
    info_parser.add_argument("name", help="registry name, e.g. convnet-coords.fashion_mnist")
    info_parser.set_defaults(handler=_info)

    train_parser = commands.add_parser("train", help="run a recipe; arguments after the name go to it")
    train_parser.add_argument("recipe", help=f"recipe name: {', '.join(sorted(RECIPES))}")
    train_parser.add_argument("recipe_args", nargs=argparse.REMAINDER, help="arguments of the recipe")
    train_parser.set_defaults(handler=_train)

    report_parser = commands.add_parser("report", help="write docs/RESULTS.md from the experiment runs")
    report_parser.add_argument("--runs", nargs="+", default=["runs/experiments"],
                               help="one or more folders of experiment runs; full-mode runs win over quick ones")
    report_parser.add_argument("--output", default="docs/RESULTS.md", help="Markdown file to write")
    report_parser.add_argument("--figures", default=None, help="folder of the PNG plots (default: results/ beside --output)")
    report_parser.set_defaults(handler=_report)
    return parser


def main(argv=None):
    """Run the `zoo` command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except Exception as error:  # every error becomes one line unless --verbose
        if args.verbose:
            raise
        print(f"zoo: error: {error_message(error)} (add --verbose for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

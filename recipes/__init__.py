"""Runnable recipes: run folders, callbacks, export, experiments and the `zoo` command."""

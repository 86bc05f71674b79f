"""User errors reach the command line as one line with the value and the fix, exit code 1."""

import pytest

from recipes.errors import run_main
from recipes.run_folder import RunFolderExistsError
from tests.testing import run_python


def _raise(error):
    def main(argv):
        raise error

    return main


def test_user_error_prints_one_line(capsys):
    exit_code = run_main(_raise(RunFolderExistsError("Run folder x already contains a run.")), "prog", [])
    error = capsys.readouterr().err
    assert exit_code == 1
    assert error.count("\n") == 1
    assert error.startswith("prog: error: Run folder x")
    assert "Traceback" not in error


def test_verbose_shows_traceback():
    with pytest.raises(RunFolderExistsError):
        run_main(_raise(RunFolderExistsError("exists")), "prog", ["--verbose"])


def test_verbose_flag_is_removed_before_main():
    received = []
    assert run_main(lambda argv: received.append(argv) or 0, "prog", ["--epochs", "2", "--verbose"]) == 0
    assert received == [["--epochs", "2"]]


def test_program_bugs_keep_traceback():
    with pytest.raises(ZeroDivisionError):
        run_main(_raise(ZeroDivisionError("bug")), "prog", [])


def test_missing_dataset_names_install_command(tmp_path, monkeypatch):
    from zoo.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(fashion_mnist.ENVIRONMENT_VARIABLE, raising=False)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_fashion_mnist(allow_fallback=False)


def test_recipe_existing_folder_exit_code(tmp_path):
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "metrics.json").write_text("{}")
    process = run_python(
        "import runpy, sys; sys.argv = ['convnet_positions'] + sys.argv[1:]; "
        "runpy.run_module('recipes.convnet_positions', run_name='__main__')",
        "--variants", "none", "--max-train-examples", "64", "--validation-size", "64",
        "--output", str(tmp_path),
    )
    assert process.returncode == 1, process.stderr[-2000:]
    assert "already contains a complete run" in process.stderr
    assert "--resume" in process.stderr
    assert "Traceback" not in process.stderr


def test_recipe_bad_flag_exit_code():
    process = run_python(
        "import runpy, sys; sys.argv = ['convnet_positions'] + sys.argv[1:]; "
        "runpy.run_module('recipes.convnet_positions', run_name='__main__')",
        "--epochs", "0",
    )
    assert process.returncode == 2
    assert "--epochs must be at least 1; received 0" in process.stderr

"""Report user errors from command-line entry points as one line, without a traceback."""

import sys

from recipes.run_folder import RunFolderExistsError
from zoo.pretrained import PretrainedModelError
from zoo.registry import UnknownModelError

# Errors caused by input the user can fix: names, flags, files, data sets.
USER_ERRORS = (
    RunFolderExistsError,
    UnknownModelError,
    PretrainedModelError,
    FileNotFoundError,
    ValueError,
    TypeError,
)


def error_message(error):
    """Return the one-line text of an error (KeyError subclasses keep their own message)."""
    return getattr(error, "message", None) or str(error)


def run_main(main, program, argv=None):
    """Call `main(argv)` and turn a user error into one line on stderr and exit code 1.

    `--verbose` anywhere in `argv` is removed and shows the full traceback instead.

    Args:
        main: the entry point, taking a list of arguments and returning an exit code.
        program: the command name shown before the message.
        argv: arguments; defaults to `sys.argv[1:]`.

    Example:
    >>> sys.exit(run_main(main, "python -m recipes.convnet_positions"))
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    argv = [argument for argument in argv if argument != "--verbose"]
    try:
        return main(argv)
    except USER_ERRORS as error:
        if verbose:
            raise
        print(f"{program}: error: {error_message(error)} (add --verbose for the traceback)", file=sys.stderr)
        return 1

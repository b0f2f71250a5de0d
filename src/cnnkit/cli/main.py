"""The ``cnnkit`` command. Each command group lives in its own module; this one wires them
together and turns every CnnkitError into one line on stderr and exit code 2.

``--debug`` (anywhere on the command line) shows the traceback instead. Nothing here
imports torch, so ``cnnkit --help`` is instant.
"""

from __future__ import annotations

import sys

import typer

from cnnkit import __version__
from cnnkit.cli import (
    analysis,
    attack,
    detect,
    evaluate,
    explain,
    export,
    flow,
    import_weights,
    lecture,
    models,
    ops,
    predict,
    report,
    serve,
    sr,
    train,
    voxels,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="cnnkit",
    help="Build, train, explain and attack convolutional neural networks.\n\n"
    "Example: cnnkit train   (LeNet-5 on Fashion-MNIST in well under a minute)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print cnnkit's version and exit."),
) -> None:
    """Build, train, explain and attack convolutional neural networks."""
    if version:
        typer.echo(f"cnnkit {__version__}")
        raise typer.Exit()


for group in (train, evaluate, predict, report, export, models, import_weights, ops, analysis, explain, attack,
              serve, sr, flow, detect, voxels, lecture):
    group.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``cnnkit`` script: run a command, one line and exit 2 on user errors."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"] or ["--help"]
    from cnnkit.errors import CnnkitError, TrainingInterrupted

    try:
        # Not standalone: usage errors come back here to be printed on one line like ours.
        code = app(args=args, prog_name="cnnkit", standalone_mode=False)
    except CnnkitError as err:
        if debug:
            raise
        _fail(str(err))
    except typer.TyperException as err:  # a bad flag value, an unknown option, a missing argument
        if debug:
            raise
        ctx = getattr(err, "ctx", None)
        if type(err).__name__ == "NoArgsIsHelpError" and ctx is not None:  # 'cnnkit ops': list its commands
            print(ctx.get_help())
            return
        command = ctx.command_path if ctx is not None else "cnnkit"
        _fail(f"{err.format_message().rstrip('.')}; see '{command} --help'", code=getattr(err, "exit_code", 2))
    except TrainingInterrupted as err:  # SIGINT / SIGTERM: a checkpoint was written
        print(f"cnnkit: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Abort:
        _fail("aborted", code=1)
    except OSError as err:  # the machine refused: a full disk, a read-only folder, a vanished file
        if debug:
            raise
        where = f" ({err.filename})" if err.filename else ""
        _fail(f"{err.strerror or err}{where}; check the disk and the folder's permissions")
    except MemoryError:
        if debug:
            raise
        _fail("out of memory; use a smaller --batch-size, fewer images or a smaller model")
    if code == 130:  # Ctrl-C outside training, which typer turns into exit code 130 without a word
        print("cnnkit: interrupted", file=sys.stderr)
    if isinstance(code, int) and code != 0:
        sys.exit(code)


def _fail(message: str, *, code: int = 2) -> None:
    print(f"cnnkit: error: {_one_line(message)}", file=sys.stderr)
    sys.exit(code)


# Every character that ends a line for str.splitlines, shown escaped: a message quoting what a
# file held (a key "\x1e", a name with a newline) stays one line.
_LINE_BREAKS = {ord(c): c.encode("unicode_escape").decode("ascii") for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _one_line(message: str) -> str:
    """The message on one line, whatever it quotes."""
    return message.rstrip("\n").translate(_LINE_BREAKS)

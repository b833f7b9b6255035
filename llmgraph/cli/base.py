"""The typer machinery every command shares: one-line errors with exit code 2, the stderr log
handler, and small option helpers.

Every bad input, from any command, ends as one line on stderr (``llmgraph: FILE: report ID:
problem``) and exit code 2: the handler is ``Commands.main``, in one place.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from llmgraph.core.errors import InputError


class _PlainHelp:
    """``--help`` shown as the flag it is (typer would show a ``<bool>`` value)."""

    def get_help_option(self, ctx):  # noqa: ANN001, ANN201
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class Command(_PlainHelp, TyperCommand):
    """One llmgraph command."""


class Commands(_PlainHelp, TyperGroup):
    """llmgraph's commands; whatever goes wrong ends in one line on stderr."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except typer.TyperException as error:  # a bad option: name the command and what is wrong
            if type(error).__name__ == "NoArgsIsHelpError":  # `llmgraph` alone: its help
                typer.echo(error.format_message())
                code = 0
            else:
                where = error.ctx.command_path if getattr(error, "ctx", None) else "llmgraph"
                typer.echo(f"{where}: {error.format_message()} (see {where} --help)", err=True)
                code = error.exit_code
        except InputError as error:
            typer.echo(f"llmgraph: {error}", err=True)
            code = 2
        except OSError as error:  # a file system problem no command foresaw: still one line
            typer.echo(f"llmgraph: {InputError(error.strerror or str(error), error.filename)}", err=True)
            code = 2
        except typer.Abort:
            typer.echo("llmgraph: aborted", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


class _Stderr(logging.Handler):
    """llmgraph's warnings (and info with --verbose) as ``llmgraph: ...`` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"llmgraph: {record.getMessage()}", err=True)


_HANDLER = _Stderr()


def _flag(help: str, *names: str, panel: str | None = None) -> Any:
    """An on/off option (shown without a value)."""
    return typer.Option(False, *names, metavar="", help=help, rich_help_panel=panel)


def _labeler_option(panel: str | None = None) -> Any:
    return typer.Option(None, "--labeler", metavar="1|2|both", rich_help_panel=panel,
                        help="For test files with labeler_1/labeler_2 annotations: which labeler's to use.")

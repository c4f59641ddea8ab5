"""Every ``registry …`` command quoted in README.md and docs/*.md is a real command (#15).

A command is taken from an inline code span (`registry sweep`) or a line of a fenced block
(``registry sweep --json  # comment``, ``.venv/bin/registry …`` alike, ``\\`` continuations
joined). Each must name existing (sub)commands, use only options that command declares, with a
declared choice where the option has choices, and pass no more arguments than it takes; and
``<command> --help`` must succeed. Placeholders (``<agency id>``, ``JOB_ID``, ``…``) stand for
values and are not checked further.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner

from app.cli import app as cli_app

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`((?:\.venv/bin/)?registry(?: [^`\n]*)?)`")
COMMAND_LINE = re.compile(r"^\s*(?:\$\s+)?((?:\.venv/bin/)?registry(?:\s.*)?)$")
PLACEHOLDER = re.compile(r"<[^>]*>")
COMMENT = re.compile(r"\s#.*$")
SHELL_OPERATOR = re.compile(r"\s(?:\||&&|;|>)\s")


@dataclass(frozen=True)
class Quoted:
    document: str
    line: int
    text: str

    def tokens(self) -> list[str]:
        text = PLACEHOLDER.sub("PLACEHOLDER", self.text)
        words = shlex.split(SHELL_OPERATOR.split(text, maxsplit=1)[0])
        assert words[0].endswith("registry")
        return [w for w in words[1:] if w not in ("…", "...")]


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def quoted_commands() -> list[Quoted]:
    found: list[Quoted] = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        for fence in FENCE.finditer(text):
            first = _line_of(text, fence.start(1))
            pending, start = "", 0
            for i, raw in enumerate(fence.group(1).splitlines()):
                line = pending + raw if pending else raw
                start = start if pending else first + i
                if line.rstrip().endswith("\\"):
                    pending = line.rstrip()[:-1] + " "
                    continue
                pending = ""
                match = COMMAND_LINE.match(COMMENT.sub("", line))
                if match:
                    found.append(Quoted(name, start, match.group(1).strip()))
        # Blank the fenced blocks (keeping line numbers) before looking for inline spans.
        prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        for span in INLINE.finditer(prose):
            found.append(Quoted(name, _line_of(prose, span.start()), span.group(1).strip()))
    return found


QUOTED = quoted_commands()
ROOT_COMMAND = typer.main.get_command(cli_app)


def test_the_documents_quote_commands() -> None:
    """The extraction itself works: the README and the guides quote a good many commands."""
    assert len(QUOTED) >= 15
    assert {q.document for q in QUOTED} >= {"README.md", "docs/operations.md", "docs/import.md"}


def _resolve(tokens: list[str]) -> tuple[Any, list[str], list[str]]:
    """Walk the (sub)command names; return the command, its path and the rest."""
    command: Any = ROOT_COMMAND
    path: list[str] = []
    rest = list(tokens)
    while isinstance(command, typer.core.TyperGroup) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        if sub is None:
            break
        command, path = sub, [*path, rest.pop(0)]
    return command, path, rest


def _message(exc: Exception) -> str:
    format_message = getattr(exc, "format_message", None)
    return format_message() if callable(format_message) else str(exc)


def _check_arguments(command: Any, path: list[str], rest: list[str]) -> None:
    """Parse the rest as the command would (without running it): unknown options, extra
    arguments and values outside an option's choices fail. Arguments are not converted:
    documents write placeholders (``roster.csv``, ``JOB_ID``) there."""
    where = " ".join(["registry", *path])
    ctx = typer.Context(command, info_name=path[-1] if path else "registry")
    try:
        values, extra, _ = command.make_parser(ctx).parse_args(list(rest))
    except Exception as exc:  # typer's own (vendored) click raises its UsageError subclasses
        pytest.fail(f"{where}: {_message(exc)}")
    if isinstance(command, typer.core.TyperGroup) and extra:
        pytest.fail(f"{where} has no command {extra[0]!r}")
    assert not extra, f"{where} takes no argument {extra[0]!r}"
    for param in command.params:
        if param.name in values and param.param_type_name == "option":
            try:
                param.process_value(ctx, values[param.name])
            except Exception as exc:
                pytest.fail(f"{where}: {_message(exc)}")


@pytest.mark.parametrize("quoted", QUOTED, ids=lambda q: f"{q.document}:{q.line}:{q.text}")
def test_quoted_command_exists(quoted: Quoted) -> None:
    command, path, rest = _resolve(quoted.tokens())
    _check_arguments(command, path, rest)
    result = CliRunner().invoke(cli_app, [*path, "--help"], prog_name="registry")
    assert result.exit_code == 0, result.output
    assert f"Usage: {' '.join(['registry', *path])} " in result.output

"""The layers hold (#16): app.domain imports no framework and no other layer, schemas and models
import no services, services import no HTTP. The contracts are in pyproject.toml
(``[tool.importlinter]``); this runs them so that ``make test`` and CI fail on a violation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    # The venv's own executable, next to the interpreter running the tests.
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

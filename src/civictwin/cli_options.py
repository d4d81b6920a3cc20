"""Command-line options every `civictwin` command that opens the twin shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
DbOpt = Annotated[str | None, typer.Option("--database-url", help="Overrides the setting.")]

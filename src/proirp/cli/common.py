"""What every `proirp` command shares: its settings, and how it stops on a problem."""

from __future__ import annotations

import typer

from proirp.config import Settings, SettingsError, load_settings


def settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"proirp: {exc}", err=True)
        raise typer.Exit(2) from None


def fail(message: str) -> None:
    typer.echo(f"proirp: {message}", err=True)
    raise typer.Exit(1)

"""Sub-commands of ``registry``, one module per capability, each exposing ``app`` (a Typer)."""

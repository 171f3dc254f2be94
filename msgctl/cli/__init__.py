"""The Typer layer: parse, call the core, render. Nothing here talks to a broker directly."""

"""Serve the base and the exported specialists to the user's agent: an OpenAI-compatible server (`make serve`)."""
from .api import Server, ServeError, reload, serving

__all__ = ["Server", "ServeError", "reload", "serving"]

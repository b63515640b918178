"""`python -m export NAME [NAME ...]`: package trained adapters for serving (see export/bundle.py and the README)."""
import sys

from core.entry import run

from .bundle import main

sys.exit(run("export", main))

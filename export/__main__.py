"""`python -m export NAME [NAME ...]`: package trained adapters for serving (see export/bundle.py and the README)."""
import sys

from core import entry

from .bundle import main

sys.exit(entry.run("export", main))

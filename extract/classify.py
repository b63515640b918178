"""Decide a whole session's programming language from what the agent touched, ran and saw fail."""
from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass

from .records import Session

LANGUAGES = ("rust", "typescript", "python", "ruby", "swift")

# Evidence weights: what the agent did with tools outweighs what anybody said.
W_PATH = 3.0  # a distinct file path in tool inputs (filePath, patterns, patch headers, command arguments)
W_COMMAND = 3.0  # a distinct build/test/run command
W_ERROR = 2.0  # a compiler or runtime error signature in tool output
W_TEXT = 0.5  # a file name or command mentioned in prompts or assistant text

EXTENSIONS = {
    "rust": {".rs": 1.0, "cargo.toml": 1.0, "cargo.lock": 1.0},
    "typescript": {".ts": 1.0, ".tsx": 1.0, ".mts": 1.0, ".cts": 1.0, "tsconfig.json": 1.0, ".js": 0.3,
                   ".jsx": 0.3, ".mjs": 0.3, "package.json": 0.3},
    "python": {".py": 1.0, ".pyi": 1.0, "pyproject.toml": 1.0, "requirements.txt": 1.0, "setup.cfg": 0.5,
               ".ipynb": 0.5},
    "ruby": {".rb": 1.0, "gemfile": 1.0, "gemfile.lock": 1.0, ".gemspec": 1.0, "rakefile": 1.0, ".erb": 0.5},
    "swift": {".swift": 1.0, "package.swift": 1.0, ".xcodeproj": 1.0, ".xcworkspace": 1.0},
}
COMMANDS = {
    "rust": {"cargo": 1.0, "rustc": 1.0, "rustup": 1.0, "rustfmt": 1.0, "clippy-driver": 1.0},
    "typescript": {"tsc": 1.0, "vitest": 1.0, "jest": 0.6, "ts-node": 1.0, "tsx": 1.0, "npm": 0.4, "npx": 0.4,
                   "pnpm": 0.4, "yarn": 0.4, "bun": 0.5, "deno": 0.7, "node": 0.3, "eslint": 0.4},
    "python": {"python": 1.0, "python3": 1.0, "pytest": 1.0, "pip": 1.0, "pip3": 1.0, "uv": 1.0, "ruff": 1.0,
               "mypy": 1.0, "poetry": 1.0, "tox": 1.0, "black": 0.8},
    "ruby": {"ruby": 1.0, "bundle": 1.0, "rspec": 1.0, "rake": 1.0, "gem": 1.0, "rails": 1.0, "rubocop": 1.0,
             "irb": 1.0},
    "swift": {"swift": 1.0, "swiftc": 1.0, "xcodebuild": 1.0, "swiftlint": 1.0, "xcrun": 0.6, "pod": 0.6},
}
ERRORS = {
    "rust": [r"error\[E\d{4}\]", r"thread '[^']*' panicked at", r"\bcould not compile `"],
    "typescript": [r"error TS\d{4}", r"\.tsx?\(\d+,\d+\): error", r"\.tsx?:\d+:\d+ - error"],
    "python": [r"Traceback \(most recent call last\)", r"\b(?:ModuleNotFoundError|IndentationError|"
               r"AttributeError|TypeError|ValueError|KeyError): ", r"File \"[^\"]+\.py\", line \d+"],
    "ruby": [r"\bNoMethodError\b", r"uninitialized constant", r"\.rb:\d+:in [`']", r"\bLoadError\b"],
    "swift": [r"\.swift:\d+:\d+: error:", r"\berror: cannot find '[^']+' in scope", r"Fatal error: "],
}
_ERRORS = {lang: re.compile("|".join(ps)) for lang, ps in ERRORS.items()}
# A literal each of a language's error patterns contains: a text holding none of them cannot match (a fast test).
_ERROR_HINTS = {"rust": ("error[E", "' panicked at", "could not compile `"),
                "typescript": ("error TS", "): error", " - error"),
                "python": ("Traceback (most recent call last)", "Error: ", '.py", line '),
                "ruby": ("NoMethodError", "uninitialized constant", ".rb:", "LoadError"),
                "swift": (".swift:", "error: cannot find '", "Fatal error: ")}
# Languages with no specialist: their evidence never picks a language, it only says why a session was left out
# ("language javascript has no specialist" rather than "no signal" for a session that edits .js and .css files).
OTHER_EXTENSIONS = {
    "javascript": (".js", ".jsx", ".mjs", ".cjs"), "css": (".css", ".scss", ".sass", ".less"),
    "html": (".html", ".htm", ".vue", ".svelte"), "go": (".go", "go.mod"), "java": (".java", "pom.xml", "build.gradle"),
    "kotlin": (".kt", ".kts"), "c": (".c", ".h"), "c++": (".cpp", ".cc", ".cxx", ".hpp"), "c#": (".cs", ".csproj"),
    "php": (".php", "composer.json"), "elixir": (".ex", ".exs"), "dart": (".dart",), "scala": (".scala",),
    "lua": (".lua",), "zig": (".zig",), "haskell": (".hs",), "shell": (".sh", ".bash"),
}
OTHER_COMMANDS = {"go": ("go",), "java": ("javac", "mvn", "gradle"), "c#": ("dotnet",), "php": ("php", "composer"),
                  "elixir": ("mix", "elixir"), "dart": ("dart", "flutter"), "c++": ("g++", "clang++", "cmake"),
                  "c": ("gcc", "clang"), "javascript": ("node",), "zig": ("zig",), "haskell": ("ghc", "cabal", "stack")}
_PATH_KEYS = {"filePath", "file_path", "path", "pattern", "include", "glob", "notebook_path", "filename"}
_PATCH_PATHS = re.compile(r"^\*\*\* (?:Add|Update|Delete) File: (.+)$|^(?:\+\+\+|---) [ab]/(.+)$", re.M)
# A path-like word. Its first branch starts only where a run of path characters starts: a match found from inside
# a run is also found (longer) from its start, so this finds the same words without trying every position of a long
# run again (which made the search quadratic in the run's length).
_WORD_PATH = re.compile(r"(?<![\w./-])[\w./-]+\.[A-Za-z]{1,6}\b|\b(?:Cargo|Gemfile|Rakefile|Package)\b[\w.]*")
_SHELL_SPLIT = re.compile(r"&&|\|\||;|\||\n|\$\(")


@dataclass
class Verdict:
    language: str | None  # None: ambiguous or no signal
    reason: str  # "clear" | "ambiguous" | "no signal"
    scores: dict[str, float]


@functools.lru_cache(maxsize=1 << 16)  # the same paths come back in session after session
def _path_lang(path: str) -> tuple[tuple[str, float], ...]:
    p = path.lower().rstrip("/")
    name = p.rsplit("/", 1)[-1]
    hits = []
    for lang, table in EXTENSIONS.items():
        for suffix, w in table.items():
            if suffix.startswith(".") and (name.endswith(suffix) or f"*{suffix}" in name) or name == suffix:
                hits.append((lang, w))
                break
    return tuple(hits)


_WRAPPERS = {"npx", "bunx", "pnpm", "yarn", "uv", "poetry", "bundle", "pipx"}  # the tool they run is the signal
_PREFIXES = {"sudo", "env", "time", "exec", "nohup", "command", "then", "do", "("}


def shell_segments(command: str, strip: str = "") -> list[list[str]]:
    """The words of each segment of a shell command line (split at `&&`, `||`, `;`, `|`, newlines and `$(`), each
    word stripped of the `strip` characters, `VAR=value` words dropped and the leading `sudo`, `env`, `time`, ...
    words that run the next one left off. Language evidence (here) and replay's test runs read commands so."""
    out = []
    for seg in _SHELL_SPLIT.split(command):
        words = [w.strip(strip) for w in seg.strip().split() if "=" not in w or w.startswith("-")]  # drop VAR=value
        while words and words[0] in _PREFIXES:
            words = words[1:]
        out.append(words)
    return out


def _commands(command: str) -> list[str]:
    """Program names of a shell command line: the first word of every segment, and what a runner runs."""
    progs = []
    for words in shell_segments(command):
        if not words:
            continue
        progs.append(words[0].rsplit("/", 1)[-1])
        if words[0] in _WRAPPERS:
            rest = [w for w in words[1:] if w not in ("run", "exec", "x") and not w.startswith("-")]
            if rest:
                progs.append(rest[0])
    return progs


def command_line(v):
    """A command as one line: argv lists (Codex's shell tool) joined, `bash -lc LINE` read as LINE."""
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        if len(v) >= 3 and v[0].rsplit("/", 1)[-1] in ("bash", "sh", "zsh") and v[1] in ("-lc", "-c"):
            return v[2]
        return " ".join(v)
    return v


def classify(session: Session, *, min_score: float = 3.0, margin: float = 2.0) -> Verdict:
    """The language whose evidence is at least `min_score` and `margin` times the runner-up's, else None."""
    scores: Counter = Counter()
    paths: set[str] = set()
    commands: set[str] = set()
    texts: list[str] = []
    outputs: list[str] = []
    calls = [c for s in session.steps for c in s.tool_calls] + list(session.evidence)
    for turn in session.turns:
        texts.append(turn.prompt)
        for step in turn.steps:
            texts.append(step.text)
    for call in calls:
        outputs.append(call.output)
        if not isinstance(call.arguments, dict):
            continue
        for k, v in call.arguments.items():
            if k in ("command", "cmd"):
                v = command_line(v)
            if not isinstance(v, str):
                continue
            if k in _PATH_KEYS:
                paths.add(v)
            elif k in ("command", "cmd"):
                commands.update(_commands(v))
                paths.update(_WORD_PATH.findall(v))
            elif k in ("patchText", "patch", "input"):
                paths.update(a or b for a, b in _PATCH_PATHS.findall(v))
    for p in sorted(paths):  # in a fixed order: a sum of floats depends on it
        for lang, w in _path_lang(p):
            scores[lang] += W_PATH * w
    for c in sorted(commands):
        for lang, table in COMMANDS.items():
            if c in table:
                scores[lang] += W_COMMAND * table[c]
    blob = "\n".join(outputs)
    for lang, rx in _ERRORS.items():
        n = len(set(rx.findall(blob))) if any(h in blob for h in _ERROR_HINTS[lang]) else 0
        scores[lang] += W_ERROR * min(n, 3)
    for w in sorted(set(_WORD_PATH.findall("\n".join(texts)))):
        for lang, weight in _path_lang(w):
            scores[lang] += W_TEXT * weight
    ranked = scores.most_common()
    if not ranked or ranked[0][1] < min_score:
        other = _other_language(paths, commands, texts)
        if other and other[1] >= min_score and other[1] >= margin * (ranked[0][1] if ranked else 0.0):
            return Verdict(None, f"language {other[0]} has no specialist", dict(scores))
        return Verdict(None, "no signal", dict(scores))
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if top < margin * second:
        return Verdict(None, "ambiguous", dict(scores))
    return Verdict(best, "clear", dict(scores))


def _other_language(paths: set[str], commands: set[str], texts: list[str]) -> tuple[str, float] | None:
    """The language without a specialist with the most evidence, weighed as classify weighs a specialist's."""
    scores: Counter = Counter()

    def hit(name: str, weight: float) -> None:
        n = name.lower().rstrip("/").rsplit("/", 1)[-1]
        for lang, suffixes in OTHER_EXTENSIONS.items():
            if any(n == x or (x.startswith(".") and n.endswith(x)) for x in suffixes):
                scores[lang] += weight
                return

    for p in sorted(paths):
        hit(p, W_PATH)
    for c in sorted(commands):
        for lang, progs in OTHER_COMMANDS.items():
            if c in progs:
                scores[lang] += W_COMMAND
    for w in sorted(set(_WORD_PATH.findall("\n".join(texts)))):
        hit(w, W_TEXT)
    # a tie goes to the language named first in OTHER_EXTENSIONS, then OTHER_COMMANDS (never to the set order)
    order = list(dict.fromkeys([*OTHER_EXTENSIONS, *OTHER_COMMANDS]))
    return max(scores.items(), key=lambda kv: (kv[1], -order.index(kv[0]))) if scores else None

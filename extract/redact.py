"""Take secrets out of every session before it is written: detectors, exact values, then a second scanner that blocks."""
from __future__ import annotations

import functools
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .records import Session

# Layer (a), the detectors. A secret is recognised by what it is: a known prefix or shape, a value assigned to a
# secret's name (env files, exports, YAML/JSON/TOML, docker and k8s env), a URL password. A name alone never is:
# `input_tokens: (a.input_tokens || 0)`, `authorName: string` and `token_parts = []` are code, not secrets.

# detect-secrets (Yelp's maintained scanner): its regex detectors' own patterns, with the literal every match
# contains (lower-cased) so a rule only runs on texts that could match. Its noisy detectors (public IPs, short
# Artifactory/Twilio/Telegram shapes that hit ordinary hashes and ids, the keyword detector that goes by names)
# and Discord's (no literal to anchor on) are left out.
_DETECT_SECRETS = [
    ("aws", "AWSKeyDetector", "aws_key", ("akia", "asia", "abia", "acca", "a3t", "aws")),
    ("azure_storage_key", "AzureStorageKeyDetector", "azure_storage_key", ("accountkey=",)),
    ("github_token", "GitHubTokenDetector", "github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    ("gitlab_token", "GitLabTokenDetector", "gitlab_token",
     ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "gr1348941", "glcbt-")),
    ("jwt", "JwtTokenDetector", "jwt", ("eyj",)),
    ("mailchimp", "MailchimpDetector", "mailchimp_key", ("-us",)),
    ("npm", "NpmDetector", "npm_token", ("_authtoken",)),
    ("openai", "OpenAIDetector", "openai_key", ("t3blbkfj",)),
    ("pypi_token", "PypiTokenDetector", "pypi_token", ("pypi-ag",)),
    ("sendgrid", "SendGridDetector", "sendgrid_key", ("sg.",)),
    ("slack", "SlackDetector", "slack_token", ("xox", "hooks.slack.com")),
    ("square_oauth", "SquareOAuthDetector", "square_secret", ("sq0csp-",)),
    ("stripe", "StripeDetector", "stripe_key", ("k_live_",)),
]

_NOT_DONE = r"(?!<REDACTED:)"  # a value already replaced by an earlier rule is not counted twice
# A line number in front of a file's line, as tools print them: opencode's read (`00012| `, `12: `), Claude
# Code's Read (`    12→`), `cat -n` (`    12\t`).
_LINE_NO = r"(?:[ \t]*\d+(?:\||:|→|\t)[ \t]?)?"
# The value of an assignment: up to a quote (maybe JSON-escaped), a space or a separator.
_VALUE = r"([^\s\"'`\\,;:&)\]}>]+)"

# Our own rules, in order: whole blocks and URLs first. (kind, pattern, hints, group): group 0 replaces the whole
# match; group 1 only the value (the name, the user, the host stay).
_OWN = [
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
     ("private key",), 0),
    # The user may be empty: redis://:password@host is how Redis (and others) spell a password-only login.
    ("url_password", r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"<>\\]*:" + _NOT_DONE + r"([^\s@/'\"<>\\]+)@", ("://",), 1),
    ("anthropic_key", r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}", ("sk-ant-",), 0),
    ("openai_key", r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", ("sk-",), 0),
    ("huggingface_token", r"hf_[A-Za-z0-9]{30,}", ("hf_",), 0),
    ("google_api_key", r"AIza[0-9A-Za-z_-]{35}", ("aiza",), 0),
    ("github_token", r"github_pat_[A-Za-z0-9_]{50,}", ("github_pat_",), 0),
    ("stripe_key", r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}", ("k_live_", "k_test_"), 0),
]

# The last word of a name that holds a secret (DB_PASSWORD, apiKey, "client_secret", AUTH_TOKEN), and the words
# before `key` that make it one (API_KEY, accessKey, SECRET_KEY; not `key`, `sortKey`, `KEY_PREFIX`).
_SECRET_LAST = {"secret", "token", "password", "passwd", "pwd", "passphrase", "pass", "credential", "credentials",
                "apikey", "secretkey", "accesskey", "privatekey", "authtoken", "dsn"}
_KEY_OWNERS = {"api", "access", "secret", "private", "auth", "client", "signing", "encryption", "master", "service",
               "account", "license", "app", "admin", "deploy", "ssh", "session", "storage", "webhook", "jwt"}
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# An assignment: NAME=value, NAME: value, "name": "value", name = 'value', -e NAME=value, escaped quotes too. A
# name starts after a non-name character or a JSON escape (\n), never inside one (`\n44: secret` is line 44).
_ASSIGN = re.compile(r"(?:(?<![A-Za-z0-9_.\\-])|(?<=\\[nrt]))([A-Za-z_][A-Za-z0-9_.-]{1,80})(?:\\*[\"'])?[ \t]*(?::=|=>|=|:)[ \t]*"
                     r"(?:\\*[\"'`])?" + _NOT_DONE + _VALUE)
# k8s and compose env lists: `- name: DB_PASSWORD` then `value: ...` on the next line.
_K8S = re.compile(r"name:[ \t]*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?[ \t]*\r?\n" + _LINE_NO + r"[ \t]*(?:-[ \t]*)?"
                  r"value:[ \t]*[\"']?" + _NOT_DONE + r"([^\s\"'\\]+)")
_PLACEHOLDER = ("your", "xxx", "***", "...", "example", "changeme", "placeholder", "redacted", "<", "$", "%", "{",
                "(", "[", "process.env", "environ", "getenv", "secrets.", "vault:", "null", "none", "undefined")
_IDENT = re.compile(r"^[A-Za-z_.\-/]+$")  # words, dotted names, paths with no digit: code, not a secret


def secret_name(name: str) -> bool:
    """A name whose value is a secret by convention: its last word says so (not merely one of its words)."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_LAST:
        return True
    if last == "key" and len(words) > 1 and words[-2] in _KEY_OWNERS:
        return True
    return last == "base" and "secret" in words  # Rails' SECRET_KEY_BASE


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def secret_value(value: str, min_len: int = 6) -> bool:
    """A literal that could be a secret: long enough, no expression, no placeholder, not a plain word or path."""
    v = value.strip().strip("\"'`")
    low = v.lower()
    if len(v) < min_len or any(c.isspace() for c in v) or low in ("true", "false", "string", "number", "bytes"):
        return False
    if any(p in low for p in _PLACEHOLDER) or re.fullmatch(r"[\d.:_-]+", v):
        return False
    if _IDENT.match(v):  # no digit: a word, a dotted name or a path, unless long random mixed-case letters
        return v.isalpha() and len(v) >= 16 and v != v.lower() and v != v.upper() and _entropy(v) >= 3.5
    return True


@dataclass(frozen=True)
class Rule:
    kind: str
    regex: re.Pattern
    hints: tuple[str, ...]  # lower-case literals; the rule runs only on texts containing one
    group: int  # 0: replace the whole match; 1: only the value
    check: Callable[[re.Match], bool] | None = None  # a match must also pass this (name and value shape)
    needs: tuple[str, ...] = ()  # lower-case literals; the rule also runs only on texts containing one of these


def _assigned(m: re.Match) -> bool:
    return secret_name(m.group(1)) and secret_value(m.group(2))


def _url_password(m: re.Match) -> bool:
    v = m.group(1)  # a template's placeholder ({password}, $PASS, <pass>, ****) or the word itself is no secret
    return v[:1] not in "{$<%*[(" and v.lower() not in ("password", "pass", "passwd", "pwd", "secret")


# Every name secret_name accepts holds one of these, lower-cased: its last word is in _SECRET_LAST, or is `key`, or
# is `base` after `secret`.
_NAME_WORDS = ("secret", "token", "pass", "pwd", "credential", "key", "dsn")
assert all(any(w in x for w in _NAME_WORDS) for x in _SECRET_LAST | {"key"})


def _rules() -> list[Rule]:
    rules = [Rule(kind, re.compile(p), hints, g, _url_password if kind == "url_password" else None)
             for kind, p, hints, g in _OWN]
    import importlib

    for module, cls_name, kind, hints in _DETECT_SECRETS:
        cls = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls_name)
        rules.extend(Rule(kind, rx, hints, 0) for rx in cls().denylist)
    # Last: assigned values (their group 2 is the value); the k8s pair first, its value is on the next line.
    # An assigned value is replaced only under a secret's name (secret_name), and every such name holds one of these.
    rules.append(Rule("assigned_secret", _K8S, ("value:",), 2, _assigned, _NAME_WORDS))
    rules.append(Rule("assigned_secret", _ASSIGN, ("=", ":"), 2, _assigned, _NAME_WORDS))
    return rules


@functools.cache
def detector_rules() -> list[Rule]:
    """The detectors' rules, compiled on first use (detect-secrets' import is a third of a second: a re-run whose
    units all come from the cache never needs them)."""
    return _rules()


def redact_text(text: str, counts: Counter | None = None, found: set[str] | None = None,
                rules: Iterable[Rule] | None = None) -> str:
    """Replace every secret in text with <REDACTED:kind> (only the value where a rule captures one).

    `found` collects the secret values replaced, for the exact-value layer.
    """
    if not text:
        return text
    low = text.lower()
    for rule in detector_rules() if rules is None else rules:
        if rule.hints and not any(h in low for h in rule.hints) or rule.needs and not any(n in low for n in rule.needs):
            continue

        def sub(m: re.Match, rule=rule) -> str:
            if rule.check is not None and not rule.check(m):
                return m.group(0)
            if counts is not None:
                counts[rule.kind] += 1
            g = rule.group if rule.group <= (m.re.groups or 0) else 0
            if found is not None:
                found.add(m.group(g))
            placeholder = f"<REDACTED:{rule.kind}>"
            if g:
                s, e = m.start(g) - m.start(), m.end(g) - m.start()
                return m.group(0)[:s] + placeholder + m.group(0)[e:]
            return placeholder

        text = rule.regex.sub(sub, text)
    return text


# Layer (b): exact values. A secret found anywhere in a session is replaced everywhere in it (read from .env,
# then echoed in a curl command); the values of the user's own secret-named environment variables, of the .env
# files the config names and the values it lists are replaced wherever they appear.

@dataclass
class Redactor:
    """What the user adds to the detectors: known secret values and their own patterns (extract.redact_*)."""

    values: dict[str, str] = field(default_factory=dict)  # value -> where it came from (for the count's kind)
    patterns: list[Rule] = field(default_factory=list)

    @classmethod
    def from_config(cls, env_files: Iterable[str] = (), values: Iterable[str] = (), patterns: Iterable[str] = (),
                    environ: dict[str, str] | None = None) -> "Redactor":
        r = cls()
        for name, value in (os.environ if environ is None else environ).items():
            if secret_name(name) and secret_value(value, min_len=8):
                r.values[value] = "env_value"
        for path in env_files:
            for name, value in read_env_file(Path(path).expanduser()):
                # a secret's name says it; otherwise only a long random-looking value (not PORT=3000, eu-west-1)
                if (secret_name(name) and len(value) >= 4) or secret_value(value, min_len=12):
                    r.values[value] = "env_file_value"
        for v in values:
            if not isinstance(v, str) or len(v) < 4:
                raise ValueError(f"extract.redact_values: {v!r} is not a string of 4 characters or more")
            r.values[v] = "configured_value"
        for p in patterns:
            try:
                rx = re.compile(p)
            except (re.error, TypeError) as e:
                raise ValueError(f"extract.redact_patterns: {p!r} is not a regular expression ({e})") from None
            r.patterns.append(Rule("configured_pattern", rx, (), 1 if rx.groups else 0))
        return r


class EnvFileError(ValueError):
    """A .env file named in the config cannot be read."""


def read_env_file(path: Path) -> list[tuple[str, str]]:
    """NAME=value pairs of a .env file (export prefixes, quotes and comments as dotenv reads them)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise EnvFileError(f"extract.redact_env_files: {path}: cannot be read ({e.strerror or e})") from None
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$", line)
        if not m:
            continue
        value = m.group(2).strip()
        if value[:1] in "\"'" and value.endswith(value[:1]) and len(value) >= 2:
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        if value:
            out.append((m.group(1), value))
    return out


def _strings(session: Session, fn: Callable[[str], str]) -> None:
    """Apply fn to every string the model sees; argument dicts keep their keys, order and non-string types."""
    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return fn(v)
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    # The title is written with every row; opencode generates it from the first prompt, pasted secrets included.
    session.title = fn(session.title)
    for turn in session.turns:
        turn.prompt = fn(turn.prompt)
        for step in turn.steps:
            step.text = fn(step.text)
            if step.reasoning:
                step.reasoning = fn(step.reasoning)
            for call in step.tool_calls:
                call.arguments = walk(call.arguments)
                call.output = fn(call.output)


def _texts(session: Session) -> list[str]:
    """Every string _strings visits, in its order, without rebuilding anything."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    out.append(session.title)
    for turn in session.turns:
        out.append(turn.prompt)
        for step in turn.steps:
            out.append(step.text)
            if step.reasoning:
                out.append(step.reasoning)
            for call in step.tool_calls:
                walk(call.arguments)
                out.append(call.output)
    return out


def _exact(values: dict[str, str], counts: Counter) -> Callable[[str], str] | None:
    if not values:
        return None
    rx = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))

    def sub(m: re.Match) -> str:
        kind = values[m.group(0)]
        counts[kind] += 1
        return f"<REDACTED:{kind}>"

    return lambda text: rx.sub(sub, text) if text else text


def _possible(session: Session, rules: list[Rule]) -> list[Rule]:
    """The rules whose hints (and needed words) occur somewhere in the session's text: the only ones that can match.

    One scan of the session's text instead of one per rule per string. Each string still checks the hints of the
    rules left against its own text as logged (redact_text), so what is replaced is exactly what checking every rule
    on every string replaces: a rule whose hint is in no string of the session is skipped on each of them anyway."""
    low = "\x00".join(filter(None, _texts(session))).lower()
    present = {h for h in {h for r in rules for h in (*r.hints, *r.needs)} if h in low}
    return [r for r in rules if (not r.hints or not present.isdisjoint(r.hints))
            and (not r.needs or not present.isdisjoint(r.needs))]


def redact_session(session: Session, counts: Counter, redactor: Redactor | None = None) -> Session:
    """Detectors (and the user's patterns) on every string, then every secret value found replaced everywhere."""
    found: set[str] = set()
    rules = _possible(session, detector_rules()) + (redactor.patterns if redactor else [])
    _strings(session, lambda t: redact_text(t, counts, found, rules))
    values = dict(redactor.values) if redactor else {}
    for v in found:  # short or word-like finds (a URL's "postgres") would eat ordinary text: only real-looking ones
        if "<REDACTED:" not in v and secret_value(v, min_len=8):
            values.setdefault(v, "repeated_secret")
    fn = _exact(values, counts)
    if fn is not None:
        _strings(session, fn)
    return session


# Layer (c): an independent second scanner (Betterleaks, the Gitleaks authors' engine, its own 400+ rules) reads
# the redacted session; a session where it still finds a secret is left out, never written.

def leaks(session: Session) -> list[str]:
    """The rule ids of the secrets the second scanner still finds in a session's text (empty: none)."""
    import betterleaks

    found = []
    for f in betterleaks.scan_string("\n".join(filter(None, _texts(session)))):
        secret = f.secret or ""
        # a finding around our own placeholder (https://<REDACTED:github_token>@host) is a secret already taken out
        if "REDACTED:" in secret or "<REDACTED:" in (f.match.full or "") or not secret.strip():
            continue
        # Its generic rules (a password or key by name) fire on code as well (`password = key_password`): they
        # count only where the value itself looks like a secret.
        if f.confidence == "low" and not secret_value(secret, min_len=8):
            continue
        found.append(f.rule_id)
    return sorted(set(found))

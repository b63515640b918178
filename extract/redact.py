"""Replace secrets (keys, tokens, private keys, passwords) with typed placeholders before anything is written."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .records import Session

# Rules from detect-secrets (Yelp's maintained scanner): its regex detectors' own patterns, with the literal
# every match contains (lower-cased) so a rule only runs on texts that could match. Its noisy detectors (public
# IPs, short Artifactory/Twilio/Telegram shapes that hit ordinary hashes and ids) and Discord's (no literal to
# anchor on, rare in coding logs) are left out.
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
_SECRET_NAMES = ("secret", "token", "password", "passwd", "pwd", "api_key", "apikey", "access_key", "accesskey",
                 "private_key", "privatekey", "credential", "auth")

# Our own rules for what it misses, in order: whole blocks and URLs first. value=True: only group 1 is replaced.
_OWN = [
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
     ("private key",), False),
    # The user may be empty: redis://:password@host is how Redis (and others) spell a password-only login.
    ("url_password", r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"<>]*:" + _NOT_DONE + r"([^\s@/'\"<>]+)@", ("://",), True),
    ("anthropic_key", r"sk-ant-[A-Za-z0-9_-]{20,}", ("sk-ant-",), False),
    ("openai_key", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", ("sk-",), False),
    ("huggingface_token", r"hf_[A-Za-z0-9]{30,}", ("hf_",), False),
    ("google_api_key", r"AIza[0-9A-Za-z_-]{35}", ("aiza",), False),
    ("github_token", r"github_pat_[A-Za-z0-9_]{50,}", ("github_pat_",), False),
    # .env-style assignments whose name says secret: keep the name, replace the value.
    ("env_secret", r"(?im)^[ \t]*(?:export[ \t]+)?[A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|PWD|API_?KEY|"
                   r"ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH)[A-Z0-9_]*[ \t]*[=:][ \t]*[\"']?" + _NOT_DONE +
                   r"([^\s\"'#]{4,})", _SECRET_NAMES, True),
]


@dataclass(frozen=True)
class Rule:
    kind: str
    regex: re.Pattern
    hints: tuple[str, ...]  # lower-case literals; the rule runs only on texts containing one
    value: bool  # replace group 1 only (keep the name, user, key...)


def _rules() -> list[Rule]:
    rules = [Rule(kind, re.compile(p), hints, value) for kind, p, hints, value in _OWN]
    import importlib

    for module, cls_name, kind, hints in _DETECT_SECRETS:
        cls = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls_name)
        rules.extend(Rule(kind, rx, hints, False) for rx in cls().denylist)
    return rules


RULES = _rules()


def redact_text(text: str, counts: Counter | None = None) -> str:
    """Replace every secret in text with <REDACTED:kind> (only the value where a rule captures one)."""
    if not text:
        return text
    low = text.lower()
    for rule in RULES:
        if not any(h in low for h in rule.hints):
            continue

        def sub(m: re.Match, rule=rule) -> str:
            if counts is not None:
                counts[rule.kind] += 1
            placeholder = f"<REDACTED:{rule.kind}>"
            if rule.value:
                s, e = m.start(1) - m.start(), m.end(1) - m.start()
                return m.group(0)[:s] + placeholder + m.group(0)[e:]
            return placeholder

        text = rule.regex.sub(sub, text)
    return text


def _redact_value(v: Any, counts: Counter) -> Any:
    if isinstance(v, str):
        return redact_text(v, counts)
    if isinstance(v, dict):
        return {k: _redact_value(x, counts) for k, x in v.items()}
    if isinstance(v, list):
        return [_redact_value(x, counts) for x in v]
    return v


def redact_session(session: Session, counts: Counter) -> Session:
    """Redact every string the model will see; argument dicts keep their keys, order and non-string types."""
    # The title is written with every row; opencode generates it from the first prompt, pasted secrets included.
    session.title = redact_text(session.title, counts)
    for turn in session.turns:
        turn.prompt = redact_text(turn.prompt, counts)
        for step in turn.steps:
            step.text = redact_text(step.text, counts)
            if step.reasoning:
                step.reasoning = redact_text(step.reasoning, counts)
            for call in step.tool_calls:
                call.arguments = _redact_value(call.arguments, counts)
                call.output = redact_text(call.output, counts)
    return session

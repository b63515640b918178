"""Extraction spec, secrets: keys, tokens, private keys, URL passwords and .env secrets are replaced with
<REDACTED:kind> before anything is written, the redactions are counted, and arguments keep their shape."""
from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from extract.redact import redact_text
from extract_support import SIGNAL, extract, manifest, new_store, rows

OPENAI = "sk-proj-" + "Q7v2LmN8pR4sT6uW9xY1zA3bC5dE7fG9hJ2kL4mN6pQ8rS0tU"
GITHUB = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
DB_PASSWORD = "Tr0ub4dor-and-3"
AWS = "AKIA" + "Q2W3E4R5T6Y7U8I9"
PEM_BODY = "MIIEowIBAAKCAQEA7yq3Z0secretKeyMaterialLine1x9Q\nb5Yh0moreSecretKeyMaterialLine2Zq7W"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
SECRETS = {"openai": OPENAI, "github": GITHUB, "db password": DB_PASSWORD, "aws": AWS,
           "pem line 1": PEM_BODY.split("\n")[0], "pem line 2": PEM_BODY.split("\n")[1]}

DOTENV = f"<path>/w/.env</path>\n<type>file</type>\n<content>\n1: DEBUG=1\n2: OPENAI_API_KEY={OPENAI}\n\n" \
         f"(End of file - total 2 lines)\n</content>"
GH_ARGS = {"command": f"curl -sf -H 'Authorization: token {GITHUB}' https://api.github.com/user",
           "description": "Check the token", "timeout": 30000}
PSQL_ARGS = {"command": f"psql postgres://app:{DB_PASSWORD}@db.internal:5432/app -c 'select 1'",
             "description": "Check the database", "workdir": "/w"}
AWS_ARGS = {"command": f"aws configure set aws_access_key_id {AWS}", "description": "Configure AWS"}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("redact")
    db = tmp / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="Fix the settings loader", agent="build")
        u = b.user_message(sid, f"The deploy key is below, why does loading fail?\n{PEM}")
        b.assistant_step(sid, u, text="Reading the settings.", tools=SIGNAL["python"] + [
            {"tool": "read", "input": {"filePath": "/w/.env"}, "output": DOTENV},
            {"tool": "bash", "input": GH_ARGS, "output": '{"login": "u"}'},
            {"tool": "bash", "input": PSQL_ARGS, "output": " ?column? \n----------\n        1"},
            {"tool": "bash", "input": AWS_ARGS, "output": ""}])
        b.assistant_step(sid, u, text="The key OPENAI_API_KEY is set; loading works now.", finish="stop")
    out = tmp / "out"
    assert extract(db, out) == 0
    return out


def _written_files(out):
    return sorted(p for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_planted_secret_is_in_no_written_byte(extracted, kind):
    secret = SECRETS[kind].encode()
    files = _written_files(extracted)
    assert any(p.suffix == ".parquet" for p in files)
    for p in files:
        assert secret not in p.read_bytes(), p


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_planted_secret_is_in_no_decoded_parquet_value(extracted, kind):
    # Parquet pages are compressed: look at the decoded values too, not only at the bytes on disk.
    for p in extracted.rglob("*.parquet"):
        text = json.dumps(pq.read_table(p).to_pylist(), ensure_ascii=False)
        assert SECRETS[kind] not in text, p


def test_each_secret_is_replaced_by_a_placeholder_naming_its_kind(extracted):
    [row] = rows(extracted, "serpent")
    text = json.dumps(row["messages"], ensure_ascii=False)
    assert "OPENAI_API_KEY=<REDACTED:openai_key>" in text
    assert "token <REDACTED:github_token>" in text
    assert "postgres://app:<REDACTED:url_password>@db.internal" in text
    assert "aws_access_key_id <REDACTED:aws_key>" in text
    assert "below, why does loading fail?\\n<REDACTED:private_key>" in text


def test_the_manifest_counts_the_redactions(extracted):
    assert manifest(extracted)["redactions"] == {"aws_key": 1, "github_token": 1, "openai_key": 1,
                                                 "private_key": 1, "url_password": 1}


def test_redacted_arguments_keep_their_keys_order_and_types(extracted):
    [row] = rows(extracted, "serpent")
    calls = [c["function"]["arguments"] for m in row["messages"] for c in m.get("tool_calls") or []]
    gh = next(a for a in calls if "api.github.com" in a.get("command", ""))
    psql = next(a for a in calls if a.get("command", "").startswith("psql"))
    assert list(gh) == list(GH_ARGS) and type(gh["timeout"]) is int and gh["timeout"] == 30000
    assert gh["description"] == GH_ARGS["description"]
    assert list(psql) == list(PSQL_ARGS) and psql["workdir"] == "/w"


def test_text_without_secrets_is_unchanged():
    counts = Counter()
    text = "cargo build && pytest -q tests/test_api.py  # token_count=3, password_field='' sk-short"
    assert redact_text(text, counts) == text
    assert counts == Counter()


@pytest.mark.parametrize("text, expected, kind", [
    (f"export OPENAI_API_KEY={OPENAI}", "export OPENAI_API_KEY=<REDACTED:openai_key>", "openai_key"),
    ("DB_PASSWORD=hunter2hunter2", "DB_PASSWORD=<REDACTED:assigned_secret>", "assigned_secret"),
    ("redis://:p4ssw0rd@cache:6379/0", "redis://:<REDACTED:url_password>@cache:6379/0", "url_password"),
    ("http://localhost:8080/api@v2", "http://localhost:8080/api@v2", None),  # a port is not a password
    (f"git clone https://oauth2:{GITHUB}@github.com/u/r.git",
     "git clone https://oauth2:<REDACTED:url_password>@github.com/u/r.git", "url_password"),
])
def test_redact_text_rules(text, expected, kind):
    counts = Counter()
    assert redact_text(text, counts) == expected
    assert counts == (Counter({kind: 1}) if kind else Counter())


def test_a_secret_in_the_session_title_is_not_written(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title=f"Rotate {GITHUB}", agent="build")
        u = b.user_message(sid, "Rotate the token in the CI settings")
        b.assistant_step(sid, u, text="Rotating.", tools=SIGNAL["python"], finish="stop")
    out = tmp_path / "out"
    assert extract(db, out) == 0
    [row] = rows(out, "serpent")
    assert row["title"] == "Rotate <REDACTED:github_token>"
    for p in _written_files(out):
        assert GITHUB.encode() not in p.read_bytes()

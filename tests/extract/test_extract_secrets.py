"""Extraction spec, secrets in real sessions: code is never redacted for a name it uses; a secret is caught in
every form tools print it; a secret value found once is replaced everywhere in the session, and so are the
user's own values; a session the second scanner still finds a secret in is left out and counted."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from extract.records import Session, Step, ToolCall, Turn
from extract.redact import Redactor, leaks, redact_session, redact_text
from extract_support import SIGNAL, extract, manifest, new_store, rows

PASSWORD = "Vq7rLm2xZt" + "#k9Pw"  # a generic secret: only its context says what it is
GITHUB = "ghp_" + "Zr8Kq2Lm4Np6Rt8Vx0Bz3Dc5Fg7Hj9Kl1Mn3"


@pytest.mark.parametrize("code", [
    "usage.input_tokens = (a.input_tokens || 0) + (b.input_tokens || 0)",
    "const tokenCount: number = overrides.tokenCount ?? 0",
    "interface Post { authorName: string; authToken: string }",
    "token_parts: list[str] = []",
    "password = getpass.getpass('Password: ')",
    "MAX_TOKENS = 4096\nAUTH_HEADER = 'Authorization'\nKEY_PREFIX = 'user:'",
    "if password: check(password=password, secret_key=settings.SECRET_KEY)",
    "url = f'postgres://{user}:{password}@{host}/db'",
])
def test_code_that_merely_names_a_token_key_or_password_is_untouched(code):
    counts = Counter()
    assert redact_text(code, counts) == code
    assert not counts


def _numbered(lines, fmt):
    return "\n".join(fmt.format(i + 11, line) for i, line in enumerate(lines))


ENV = ["DEBUG=1", f"DB_PASSWORD={PASSWORD}", "PORT=3000"]
FORMS = {
    ".env": "\n".join(ENV),
    "export": f"export DB_PASSWORD={PASSWORD}",
    "export quoted": f'export DB_PASSWORD="{PASSWORD}"',
    "yaml": f"database:\n  host: db\n  password: {PASSWORD}\n",
    "json": json.dumps({"host": "db", "db_password": PASSWORD}, indent=2),
    "toml": f'[db]\npassword = "{PASSWORD}"',
    "docker run": f"docker run -e DB_PASSWORD={PASSWORD} app",
    "k8s env": f"env:\n  - name: DB_PASSWORD\n    value: \"{PASSWORD}\"",
    "url": f"mysql://root:{PASSWORD}@127.0.0.1:3306/app",
    "diff": f"@@ -1,2 +1,3 @@\n DEBUG=1\n+DB_PASSWORD={PASSWORD}",
    "json-escaped": json.dumps({"stdout": "\n".join(ENV)}),
    "opencode read": _numbered(ENV, "{:05d}| {}"),
    "opencode read (2026)": _numbered(ENV, "{}: {}"),
    "claude Read": _numbered(ENV, "{:>6}→{}"),
    "cat -n": _numbered(ENV, "{:>6}\t{}"),
    "k8s in claude Read": _numbered(["env:", "  - name: DB_PASSWORD", f"    value: {PASSWORD}"], "{:>6}→{}"),
    "json-escaped read": json.dumps({"output": _numbered(["auth: {", f"  secret: '{PASSWORD}',", "}"], "{}: {}")}),
}


@pytest.mark.parametrize("secret", [PASSWORD, GITHUB], ids=["generic password", "github token"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_secret_is_caught_in_every_form_tools_print_it(form, secret):
    text = FORMS[form].replace(PASSWORD, secret)
    out = redact_text(text, Counter())
    assert secret not in out and json.dumps(secret)[1:-1] not in out
    assert "<REDACTED:" in out


def _session(*texts: str) -> Session:
    """One turn; each text is a tool output of its own call."""
    calls = [ToolCall(id=f"c{i}", name="bash", arguments={"command": f"step {i}"}, output=t)
             for i, t in enumerate(texts)]
    return Session(id="s", source="test", agent="build", directory="/w", title="t", time_created=0,
                   turns=[Turn(prompt="fix the login", steps=[Step(text="ok", tool_calls=calls)])])


def test_a_secret_found_once_is_replaced_everywhere_in_the_session():
    s = _session(f"DB_PASSWORD={PASSWORD}", f"$ curl -u admin:{PASSWORD} http://localhost/health\nok")
    s.turns[0].prompt = f"the login with {PASSWORD} fails"
    counts = Counter()
    redact_session(s, counts)
    blob = json.dumps([s.turns[0].prompt, [c.output for c in s.tool_calls]])
    assert PASSWORD not in blob
    assert counts["repeated_secret"] == 2 and counts["assigned_secret"] == 1


def test_the_users_own_secret_environment_values_are_replaced_wherever_they_appear():
    token = "Qm4" + "xR8vL2pT9wZ6"
    r = Redactor.from_config(environ={"ACME_SERVICE_TOKEN": token, "HOME": "/home/u", "EDITOR": "vim"})
    s = _session(f"connected as {token}", "editor vim in /home/u")
    counts = Counter()
    redact_session(s, counts, r)
    assert s.tool_calls[0].output == "connected as <REDACTED:env_value>"
    assert s.tool_calls[1].output == "editor vim in /home/u"  # only secret-named variables


def test_configured_env_files_values_and_patterns_are_replaced(tmp_path):
    env = tmp_path / ".env.production"
    env.write_text("# prod\nexport STRIPE_WEBHOOK=whsec_" + "Lx9Qm2Rv7Tz4\nREGION=eu-west-1\n")
    r = Redactor.from_config(env_files=[str(env)], values=["corp-vpn-" + "pass-77"],
                             patterns=[r"INTERNAL-([0-9]{6})"], environ={})
    s = _session("hook secret whsec_Lx9Qm2Rv7Tz4 in eu-west-1", "vpn corp-vpn-pass-77, ticket INTERNAL-123456")
    redact_session(s, Counter(), r)
    assert s.tool_calls[0].output == "hook secret <REDACTED:env_file_value> in eu-west-1"
    assert s.tool_calls[1].output == "vpn <REDACTED:configured_value>, ticket INTERNAL-<REDACTED:configured_pattern>"


def test_an_env_file_named_in_the_config_that_is_missing_is_one_error_line(tmp_path, capsys):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="t", agent="build")
        b.assistant_step(sid, b.user_message(sid, "fix"), tools=SIGNAL["python"], finish="stop")
    code = extract(db, tmp_path / "out", f"extract.redact_env_files=[{tmp_path / 'nope.env'}]")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "extract.redact_env_files" in err[0] and "nope.env" in err[0]


SHOPIFY = "shpat_" + "5f40a7c2e91b3d68" * 2  # a provider the detectors do not know; Betterleaks does


def test_the_second_scanner_finds_what_the_detectors_missed():
    s = _session(f"the shop uses {SHOPIFY} for the admin api")
    redact_session(s, Counter())
    assert SHOPIFY in s.tool_calls[0].output
    assert leaks(s) == ["shopify-access-token"]
    assert leaks(_session("cargo build\nFinished dev profile")) == []


def test_a_session_the_second_scanner_still_finds_a_secret_in_is_left_out_and_counted(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        p = b.project("/w")
        for prompt, out in (("deploy the shop", f"token {SHOPIFY}"), ("fix the parser", "1 passed")):
            sid = b.session(p, directory="/w", title=prompt, agent="build")
            u = b.user_message(sid, prompt)
            b.assistant_step(sid, u, text="Looking.", tools=SIGNAL["python"] + [
                {"tool": "bash", "input": {"command": "cat config", "description": "Read"}, "output": out}])
            b.assistant_step(sid, u, text="Done.", finish="stop")
    out = tmp_path / "out"
    assert extract(db, out) == 0
    titles = {r["title"] for r in rows(out, "serpent")}
    assert titles == {"fix the parser"}
    m = manifest(out)
    assert m["sessions_skipped"]["sessions the second scanner still found a secret in"] == 1
    assert m["blocked_secrets"] == {"shopify-access-token": 1}
    for p in out.rglob("*"):
        if p.is_file():
            assert SHOPIFY.encode() not in p.read_bytes()


def test_the_second_scanner_does_not_block_on_a_secret_already_taken_out():
    s = _session(f"origin https://{GITHUB}@github.com/acme/api.git (push)")
    redact_session(s, Counter())
    assert s.tool_calls[0].output == "origin https://<REDACTED:github_token>@github.com/acme/api.git (push)"
    assert leaks(s) == []


def test_a_rust_test_path_is_not_a_secret():
    # the old .env rule rewrote this line of `cargo test` output into `tokens::<REDACTED:env_secret>`
    line = "test tokens::tests::ignores_empty_tags ... ok"
    assert redact_text(line, Counter()) == line

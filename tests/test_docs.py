"""The manual stays true to the code: every `make` target and config key a page names exists, every target `make help`
prints is on some page, the front page stays short, and every page it links to is there. Reads files only."""
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from core import config as cfglib

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# what a `section.key` in backticks may be besides a config key: a file of that name (eval.md, agent.json)
FILE_SUFFIXES = {"md", "json", "jsonl", "png", "py", "yaml", "yml", "gguf", "sh", "log", "db", "txt", "toml", "lock"}


def _code(text: str) -> list[str]:
    """The code a page holds: inline `spans` and the lines of fenced blocks."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M))
    return inline + [line for block in blocks for line in block.splitlines()]


def _make_targets_named(text: str) -> set[str]:
    return {m for code in _code(text) for m in re.findall(r"(?:^|[\s/])make ([a-z][a-z0-9-]*)", code)}


def _config_keys_named(text: str) -> set[str]:
    """`section.key`, `section.key=value` and `section.key: value`: whole spans, words of a command, and the items of an ARGS='...' list."""
    sections = "|".join(cfglib.SECTIONS)
    keys = set()
    for code in _code(text):
        items = [code, *code.split()]
        for args in re.findall(r"ARGS='([^']*)'", code):
            items += args.split()
        for item in items:
            m = re.fullmatch(rf"({sections})\.([a-z_][a-z0-9_]*)(=.*|: .*)?", item.strip())
            if m and m.group(2) not in FILE_SUFFIXES:
                keys.add(f"{m.group(1)}.{m.group(2)}")
    return keys


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", text, flags=re.M))


def _help_targets() -> set[str]:
    out = subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    targets = set()
    for line in out.splitlines():
        if not line.startswith("make "):
            continue
        for part in line[len("make "):].split(" | "):
            targets.add(part.split()[0])
    return targets


def _known_keys() -> set[str]:
    defaults = yaml.safe_load((cfglib.CONFIG_DIR / "defaults.yaml").read_text())
    known = {f"{s}.{k}" for s, values in defaults.items() if isinstance(values, dict) for k in values}
    known |= {f"{s}.{k}" for s, fields in cfglib.known_fields().items() for k in fields}
    return known


def test_every_make_target_a_page_names_is_in_the_makefile():
    targets = _makefile_targets()
    wrong = sorted(f"{page.relative_to(ROOT)}: make {t}" for page in PAGES
                   for t in _make_targets_named(page.read_text()) if t not in targets)
    assert not wrong, f"pages name make targets the Makefile does not have: {wrong}"


def test_every_target_make_help_prints_is_on_some_page():
    named = set().union(*(_make_targets_named(page.read_text()) for page in PAGES))
    helped = _help_targets()
    assert {"train", "eval", "serve", "demo", "test", "export-all"} <= helped  # the parser reads make help
    assert not sorted(helped - named), f"make help prints targets no page names: {sorted(helped - named)}"


def test_every_config_key_a_page_names_exists():
    known = _known_keys()
    named = {key: page for page in PAGES for key in _config_keys_named(page.read_text())}
    assert {"extract.window_tokens", "sft.max_length", "serve.n_ctx", "eval.min_sessions"} <= set(named)
    wrong = sorted(f"{named[k].relative_to(ROOT)}: {k}" for k in named if k not in known)
    assert not wrong, f"pages name config keys that configs/defaults.yaml and the library configs lack: {wrong}"


def test_the_checks_catch_a_made_up_target_and_key():
    page = "Run `make trian NAME=serpent ARGS='sft.max_lenght=8'`, and set `extract.windw_tokens`."
    assert "trian" in _make_targets_named(page) and "trian" not in _makefile_targets()
    assert {"sft.max_lenght", "extract.windw_tokens"} <= _config_keys_named(page) - _known_keys()
    assert "eval.md" not in str(_config_keys_named("writes `eval.md` and `reports/x/eval.json`"))


def test_the_front_page_is_short_and_links_to_pages_that_exist():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", text)
    assert links and all((ROOT / link).is_file() for link in links)
    linked = {ROOT / link for link in links}
    assert not [p.name for p in PAGES[1:] if p not in linked], "a docs page the front page does not link to"


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.name)
def test_links_between_pages_point_at_pages(page):
    for link in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
        assert (page.parent / link).is_file(), f"{page.name} links to {link}, which is not there"

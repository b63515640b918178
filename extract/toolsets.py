"""Captured tool sets: the system prompt and tool schemas a real client sends for each build-<lang> agent, per client
version (extract/toolsets/<client>-<version>.json, written by `make capture-toolset`), so that a specialist trains
on what it will be served.

A captured system prompt is a template: {prompt} is the agent's own prompt (the specialist's system_prompt), {model}
the served name, {directory} the session's working directory and {date} its day as opencode writes it
("Mon Dec 07 2026"). A session gets the set of its own client version, else the newest captured set of the same
major.minor not newer than it; a session of a version with none (or no version) gets the fixed set
(extract/tools.py), and the extraction manifest counts the rows that did.
"""
from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent / "toolsets"
FIXED = "fixed"  # the name the manifest gives the fallback set
PLACEHOLDERS = ("{prompt}", "{model}", "{directory}", "{date}")


def _version(v: str) -> tuple[int, ...] | None:
    m = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", v.strip()) if isinstance(v, str) else None
    return tuple(int(x) for x in m.groups()) if m else None


@functools.lru_cache(maxsize=None)
def captured(client: str) -> dict[tuple[int, ...], dict[str, Any]]:
    """{version: the captured set} for a client, from FOLDER."""
    out = {}
    for p in sorted(FOLDER.glob(f"{client}-*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        v = _version(str(data.get("version", "")))
        if v is not None:
            out[v] = data
    return out


def for_version(client: str, version: str | None) -> dict[str, Any] | None:
    """The captured set for a session of `client` at `version` (see the module's docstring), or None."""
    v = _version(version or "")
    if v is None:
        return None
    sets = captured(client)
    if v in sets:
        return sets[v]
    same = [k for k in sets if k[:2] == v[:2] and k <= v]
    return sets[max(same)] if same else None


def agent_set(data: dict[str, Any], agent: str) -> dict[str, Any] | None:
    """{"system", "tools"} a captured set holds for an agent (build-python): its own, else the set's shared ones."""
    entry = (data.get("agents") or {}).get(agent)
    if entry is None:
        return None
    return {"system": entry.get("system", data.get("system")), "tools": entry.get("tools", data.get("tools"))}


def label(data: dict[str, Any]) -> str:
    return f"{data['client']}-{data['version']}"


def opencode_date(ms: int) -> str:
    """A day as opencode's environment block writes it (JavaScript's Date.toDateString)."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%a %b %d %Y")


def render(template: str, *, prompt: str, model: str, directory: str, date: str) -> str:
    out = template
    for key, value in (("{prompt}", prompt), ("{model}", model), ("{directory}", directory), ("{date}", date)):
        out = out.replace(key, value)
    return out


def template_of(system: str, *, prompt: str, model: str, directory: str, date: str) -> str:
    """The template of a captured system prompt: its run's values replaced by their placeholders."""
    if prompt and prompt in system:
        system = system.replace(prompt, "{prompt}", 1)
    system = system.replace(directory, "{directory}").replace(date, "{date}")
    return re.sub(rf"(?<![\w-]){re.escape(model)}(?![\w-])", "{model}", system)

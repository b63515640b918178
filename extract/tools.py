"""JSON-schema definitions of the tools an agent had, so training sees the tools serving will offer."""
from __future__ import annotations

from typing import Any

_S = {"type": "string"}
_N = {"type": "number"}
_B = {"type": "boolean"}


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


# opencode's built-in tools: names and parameters as opencode declares them (packages/opencode/src/tool/*.ts);
# descriptions are short paraphrases, since serving sends opencode's own text anyway.
OPENCODE_TOOLS: dict[str, dict[str, Any]] = {t["function"]["name"]: t for t in [
    _fn("bash", "Run a shell command in the project and return its combined stdout and stderr.",
        {"command": _S, "timeout": _N, "workdir": _S, "description": _S}, ["command", "description"]),
    _fn("read", "Read a file, optionally from a line offset and up to a line limit; lines are numbered.",
        {"filePath": _S, "offset": _N, "limit": _N}, ["filePath"]),
    _fn("edit", "Replace oldString with newString in a file (all occurrences with replaceAll).",
        {"filePath": _S, "oldString": _S, "newString": _S, "replaceAll": _B}, ["filePath", "oldString", "newString"]),
    _fn("write", "Write a file with the given content, replacing it if it exists.",
        {"filePath": _S, "content": _S}, ["filePath", "content"]),
    _fn("apply_patch", "Apply a patch in the '*** Begin Patch' format that adds, updates or deletes files.",
        {"patchText": _S}, ["patchText"]),
    _fn("glob", "Find files whose paths match a glob pattern.", {"pattern": _S, "path": _S}, ["pattern"]),
    _fn("grep", "Search file contents with a regular expression.",
        {"pattern": _S, "path": _S, "include": _S}, ["pattern"]),
    _fn("list", "List a directory.", {"path": _S, "ignore": {"type": "array", "items": _S}}, []),
    _fn("todowrite", "Replace the session's todo list.", {"todos": {"type": "array", "items": {
        "type": "object", "properties": {"content": _S, "status": _S, "priority": _S, "id": _S},
        "required": ["content", "status", "priority", "id"]}}}, ["todos"]),
    _fn("todoread", "Read the session's todo list.", {}, []),
    _fn("webfetch", "Fetch a URL and return it as text, markdown or html.",
        {"url": _S, "format": {"type": "string", "enum": ["text", "markdown", "html"]}, "timeout": _N},
        ["url", "format"]),
    _fn("task", "Start a subagent on a task and return its result.",
        {"description": _S, "prompt": _S, "subagent_type": _S, "task_id": _S},
        ["description", "prompt", "subagent_type"]),
]}

# What a build agent has unless the session says otherwise; apply_patch replaces edit/write for some models.
DEFAULT_TOOLSET = ["bash", "read", "edit", "write", "glob", "grep", "list", "todowrite", "todoread", "webfetch",
                   "task"]


def minimal_schema(name: str, arguments_seen: list[dict] | None = None) -> dict[str, Any]:
    """A schema for a tool we know nothing about (MCP tools, plugins): its name and the argument names seen."""
    keys: dict[str, None] = {}
    for args in arguments_seen or []:
        keys.update(dict.fromkeys(args))
    return _fn(name, f"The {name} tool.", {k: {} for k in keys}, [])


def toolset_for(used: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """The default build toolset plus every tool the session used, in a stable order."""
    names = list(DEFAULT_TOOLSET) + sorted(n for n in used if n not in DEFAULT_TOOLSET)
    return [OPENCODE_TOOLS.get(n) or minimal_schema(n, used.get(n)) for n in names]

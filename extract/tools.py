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

_A = {"type": "array"}

# Claude Code's built-in tools (names and parameters as its transcripts record them).
CLAUDE_TOOLS: dict[str, dict[str, Any]] = {t["function"]["name"]: t for t in [
    _fn("Bash", "Run a shell command and return its output.",
        {"command": _S, "description": _S, "timeout": _N, "run_in_background": _B}, ["command"]),
    _fn("Read", "Read a file; lines are numbered.", {"file_path": _S, "offset": _N, "limit": _N}, ["file_path"]),
    _fn("Edit", "Replace old_string with new_string in a file.",
        {"file_path": _S, "old_string": _S, "new_string": _S, "replace_all": _B},
        ["file_path", "old_string", "new_string"]),
    _fn("MultiEdit", "Apply several edits to one file.", {"file_path": _S, "edits": _A}, ["file_path", "edits"]),
    _fn("Write", "Write a file.", {"file_path": _S, "content": _S}, ["file_path", "content"]),
    _fn("Glob", "Find files matching a glob pattern.", {"pattern": _S, "path": _S}, ["pattern"]),
    _fn("Grep", "Search file contents with a regular expression.",
        {"pattern": _S, "path": _S, "glob": _S, "output_mode": _S, "-n": _B, "-i": _B}, ["pattern"]),
    _fn("TodoWrite", "Replace the todo list.", {"todos": _A}, ["todos"]),
    _fn("Task", "Start a subagent on a task.", {"description": _S, "prompt": _S, "subagent_type": _S},
        ["description", "prompt"]),
    _fn("WebFetch", "Fetch a URL and answer a prompt about it.", {"url": _S, "prompt": _S}, ["url", "prompt"]),
    _fn("WebSearch", "Search the web.", {"query": _S}, ["query"]),
]}
CLAUDE_TOOLSET = ["Bash", "Read", "Edit", "MultiEdit", "Write", "Glob", "Grep", "TodoWrite", "Task", "WebFetch",
                  "WebSearch"]

# Codex CLI's tools: both shell eras and apply_patch (a free-form tool: its text is kept under "input").
CODEX_TOOLS: dict[str, dict[str, Any]] = {t["function"]["name"]: t for t in [
    _fn("shell", "Run a command (argv list).", {"command": {"type": "array", "items": _S}, "workdir": _S,
                                                "timeout_ms": _N}, ["command"]),
    _fn("exec_command", "Run a shell command line.", {"cmd": _S, "workdir": _S, "yield_time_ms": _N}, ["cmd"]),
    _fn("shell_command", "Run a shell command line.", {"command": _S, "workdir": _S}, ["command"]),
    _fn("apply_patch", "Apply a patch in the '*** Begin Patch' format.", {"input": _S}, ["input"]),
    _fn("update_plan", "Update the task plan.", {"explanation": _S, "plan": _A}, ["plan"]),
]}

CODEX_TOOLSET = ["exec_command", "apply_patch", "update_plan"]  # 2026 rollouts
CODEX_TOOLSET_2025 = ["shell", "update_plan"]  # <= late 2025: apply_patch went through shell

# mini-swe-agent: one tool, a bash command (its text-based actions are read as calls of it).
SWE_TOOLS = {"bash": _fn("bash", "Run a bash command and return its output.", {"command": _S}, ["command"])}
SWE_TOOLSET = ["bash"]

SCHEMAS = {"opencode": OPENCODE_TOOLS, "opencode-json": OPENCODE_TOOLS, "opencode-export": OPENCODE_TOOLS,
           "claude-code": CLAUDE_TOOLS, "codex": CODEX_TOOLS, "mini-swe-agent": SWE_TOOLS,
           "swe-agent": SWE_TOOLS}  # a tool's schema is its own agent's

# What a build agent has unless the session says otherwise; apply_patch replaces edit/write for some models.
DEFAULT_TOOLSET = ["bash", "read", "edit", "write", "glob", "grep", "list", "todowrite", "todoread", "webfetch",
                   "task"]


def minimal_schema(name: str, arguments_seen: list[dict] | None = None) -> dict[str, Any]:
    """A schema for a tool we know nothing about (MCP tools, plugins): its name and the argument names seen."""
    keys: dict[str, None] = {}
    for args in arguments_seen or []:
        keys.update(dict.fromkeys(args))
    return _fn(name, f"The {name} tool.", {k: {} for k in keys}, [])


def toolset_for(used: dict[str, list[dict]], default: list[str] | None = None,
                source: str = "opencode") -> list[dict[str, Any]]:
    """The agent's default toolset (opencode's build set unless given) plus every tool the session used."""
    base = DEFAULT_TOOLSET if default is None else default
    names = list(base) + sorted(n for n in used if n not in base)
    known = SCHEMAS.get(source, {})
    return [known.get(n) or minimal_schema(n, used.get(n)) for n in names]

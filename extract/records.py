"""The source-neutral session record every agent-log reader produces."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    """One tool invocation and what came back, as the agent saw it."""

    id: str
    name: str
    arguments: dict[str, Any]  # exactly as recorded: no keys added or dropped, types kept
    output: str  # the tool result text, or the error text for a failed call
    status: str = "completed"  # "completed" | "error"
    exit_code: int | None = None  # shell tools only


@dataclass
class Step:
    """One LLM step: the assistant's text and the tool calls it made in that response."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None
    finish: str | None = None


@dataclass
class Turn:
    """A user prompt and the assistant steps that answer it, in the order they happened."""

    prompt: str
    steps: list[Step] = field(default_factory=list)
    time: int | None = None  # epoch milliseconds


@dataclass
class Session:
    """One agent session, translated from any source."""

    id: str
    source: str  # "opencode", ...
    agent: str | None
    directory: str
    title: str
    time_created: int  # epoch milliseconds
    turns: list[Turn] = field(default_factory=list)
    parent_id: str | None = None
    model: str | None = None
    toolset: list[str] | None = None  # names of the tools the agent had by default; None: opencode's build set
    subagents: list[str] = field(default_factory=list)  # ids of subagent runs linked to this session
    resolved: bool | None = None  # SWE-bench: the harness's verdict; None: not evaluated
    # Calls that are not training data but still say what the session worked on (interrupted calls, steps of
    # another agent): classification reads their arguments.
    evidence: list[ToolCall] = field(default_factory=list)
    origin: str = "real"  # "real": the user's logged session; "generated": a trajectory we produced (train side only)
    client_version: str | None = None  # the agent's version as its log records it (opencode's session.version)
    task: str | None = None  # what the source says the task is (a SWE-bench instance id); None: the first prompt

    @property
    def steps(self) -> list[Step]:
        return [s for t in self.turns for s in t.steps]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [c for s in self.steps for c in s.tool_calls]

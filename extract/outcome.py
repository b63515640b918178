"""What the logs say about how a session went: exit codes, tool errors, SWE-bench verdicts, the user's reaction."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .records import Session

OUTCOMES = ("resolved", "unresolved", "succeeded", "failed", "abandoned", "unknown")
SHELL_TOOLS = {"bash", "Bash", "shell", "exec_command", "shell_command"}

# The user's next message about the agent's last answer. Negative is checked first: "thanks, but it still fails".
_NEGATIVE = re.compile(r"\b(still (?:broken|failing|fails|not working|wrong|crash\w*|doesn'?t|errors?)|"
                       r"(?:does ?n[o']?t|did ?n[o']?t|isn'?t|not) work(?:ing)?|same error|that broke|"
                       r"broke (?:it|the)|wrong again|revert (?:that|it|this)|undo (?:that|it|this)|"
                       r"no,? that'?s (?:not|wrong))\b", re.I)
_POSITIVE = re.compile(r"\b(that works|works now|it works|working now|perfect|great,? thanks|thanks|thank you|"
                       r"lgtm|looks good|nice|awesome|excellent|well done|all (?:tests )?pass(?:ing)?)\b", re.I)


def feedback(text: str) -> str | None:
    """'negative', 'positive' or None for a user message read as a reaction to the previous answer."""
    head = text[:400]  # a reaction comes first; a long new task further down is not one
    if _NEGATIVE.search(head):
        return "negative"
    if _POSITIVE.search(head):
        return "positive"
    return None


@dataclass
class Outcome:
    label: str  # one of OUTCOMES
    failed_commands: int  # shell calls that exited non-zero
    tool_errors: int  # calls the tool itself reported as failed
    positive: int  # user reactions
    negative: int


def assess(session: Session) -> Outcome:
    """A judgement from the logs, not ground truth: SWE-bench's verdict when there is one, else how the final
    turn ended (its last command's exit code), else the user's last reaction."""
    calls = session.tool_calls
    failed = sum(1 for c in calls if c.name in SHELL_TOOLS and c.exit_code not in (None, 0))
    errors = sum(1 for c in calls if c.status == "error")
    reactions = [feedback(t.prompt) for t in session.turns[1:]]  # turn i+1's prompt reacts to turn i
    pos, neg = reactions.count("positive"), reactions.count("negative")
    final = session.turns[-1] if session.turns else None
    last_step = final.steps[-1] if final and final.steps else None
    checks = [c for st in (final.steps if final else []) for c in st.tool_calls
              if c.name in SHELL_TOOLS and c.exit_code is not None]  # commands the final turn ran
    if session.resolved is not None:
        label = "resolved" if session.resolved else "unresolved"
    elif last_step is not None and last_step.tool_calls and session.source not in ("mini-swe-agent", "swe-agent"):
        label = "abandoned"  # the agent's last act was a call it never followed up: stopped mid-work
    elif checks:
        label = "failed" if checks[-1].exit_code != 0 else "succeeded"  # how its last command ended
    elif reactions and reactions[-1] is not None:
        label = "failed" if reactions[-1] == "negative" else "succeeded"  # no command: the user's last word
    else:
        label = "unknown"
    return Outcome(label, failed, errors, pos, neg)

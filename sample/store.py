"""Deterministic generator of a realistic opencode SQLite store (real schema) for tests and demos."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
from pathlib import Path

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# 2026-04-27T14:26:40Z: after opencode's SQLite switch, so every generated row is plausible.
START_MS = 1_777_300_000_000
DEFAULT_MODEL = ("anthropic", "claude-sonnet-4-5")
DEFAULT_VERSION = "1.18.31"
_MASK48 = (1 << 48) - 1
# bash.ts stores at most this much of the output again in state.metadata.output.
_BASH_METADATA_LIMIT = 30_000

LANGUAGES = ("rust", "typescript", "python", "ruby", "swift")

# Titles of the default store's edge-case sessions, so tests and demos can find them.
EDGE_TITLES = {
    "plan": "Plan splitting the API client into modules",
    "subagent": "Find API config locations (@explore subagent)",
    "compaction": "Refactor the CSV importer to stream rows",
    "signal_free": "Explain git rebase vs merge",
    "mixed": "Expose count_tokens from the Rust core to Python",
}

# Initial DDL of migration 20260127222353_familiar_lady_ursula, statement for statement.
_INITIAL_DDL = (
    """CREATE TABLE `project` (
\t`id` text PRIMARY KEY,
\t`worktree` text NOT NULL,
\t`vcs` text,
\t`name` text,
\t`icon_url` text,
\t`icon_color` text,
\t`time_created` integer NOT NULL,
\t`time_updated` integer NOT NULL,
\t`time_initialized` integer,
\t`sandboxes` text NOT NULL
)""",
    """CREATE TABLE `message` (
\t`id` text PRIMARY KEY,
\t`session_id` text NOT NULL,
\t`time_created` integer NOT NULL,
\t`time_updated` integer NOT NULL,
\t`data` text NOT NULL,
\tCONSTRAINT `fk_message_session_id_session_id_fk` FOREIGN KEY (`session_id`) REFERENCES `session`(`id`) ON DELETE CASCADE
)""",
    """CREATE TABLE `part` (
\t`id` text PRIMARY KEY,
\t`message_id` text NOT NULL,
\t`session_id` text NOT NULL,
\t`time_created` integer NOT NULL,
\t`time_updated` integer NOT NULL,
\t`data` text NOT NULL,
\tCONSTRAINT `fk_part_message_id_message_id_fk` FOREIGN KEY (`message_id`) REFERENCES `message`(`id`) ON DELETE CASCADE
)""",
    """CREATE TABLE `permission` (
\t`project_id` text PRIMARY KEY,
\t`time_created` integer NOT NULL,
\t`time_updated` integer NOT NULL,
\t`data` text NOT NULL,
\tCONSTRAINT `fk_permission_project_id_project_id_fk` FOREIGN KEY (`project_id`) REFERENCES `project`(`id`) ON DELETE CASCADE
)""",
    """CREATE TABLE `session` (
\t`id` text PRIMARY KEY,
\t`project_id` text NOT NULL,
\t`parent_id` text,
\t`slug` text NOT NULL,
\t`directory` text NOT NULL,
\t`title` text NOT NULL,
\t`version` text NOT NULL,
\t`share_url` text,
\t`summary_additions` integer,
\t`summary_deletions` integer,
\t`summary_files` integer,
\t`summary_diffs` text,
\t`revert` text,
\t`permission` text,
\t`time_created` integer NOT NULL,
\t`time_updated` integer NOT NULL,
\t`time_compacting` integer,
\t`time_archived` integer,
\tCONSTRAINT `fk_session_project_id_project_id_fk` FOREIGN KEY (`project_id`) REFERENCES `project`(`id`) ON DELETE CASCADE
)""",
    """CREATE TABLE `todo` (
\t`session_id` text NOT NULL,
\t`content` text NOT NULL,
\t`status` text NOT NULL,
\t`priority` text NOT NULL,
\t`position` integer NOT NULL,
\t`time_created` integer NOT NULL,
\t`time_updated` integer NOT NULL,
\tCONSTRAINT `todo_pk` PRIMARY KEY(`session_id`, `position`),
\tCONSTRAINT `fk_todo_session_id_session_id_fk` FOREIGN KEY (`session_id`) REFERENCES `session`(`id`) ON DELETE CASCADE
)""",
    """CREATE TABLE `session_share` (
\t`session_id` text PRIMARY KEY,
\t`id` text NOT NULL,
\t`secret` text NOT NULL,
\t`url` text NOT NULL,
\t`time_created` integer NOT NULL,
\t`time_updated` integer NOT NULL,
\tCONSTRAINT `fk_session_share_session_id_session_id_fk` FOREIGN KEY (`session_id`) REFERENCES `session`(`id`) ON DELETE CASCADE
)""",
    "CREATE INDEX `message_session_idx` ON `message` (`session_id`)",
    "CREATE INDEX `part_message_idx` ON `part` (`message_id`)",
    "CREATE INDEX `part_session_idx` ON `part` (`session_id`)",
    "CREATE INDEX `session_project_idx` ON `session` (`project_id`)",
    "CREATE INDEX `session_parent_idx` ON `session` (`parent_id`)",
    "CREATE INDEX `todo_session_idx` ON `todo` (`session_id`)",
)

# Later migrations, applied as ALTERs so the column order matches a migrated real DB.
_MIGRATION_DDL = (
    "ALTER TABLE `project` ADD `commands` text",  # 20260211171708_add_project_commands
    "ALTER TABLE `session` ADD `workspace_id` text",  # 20260227213759_add_session_workspace_id
    "CREATE INDEX `session_workspace_idx` ON `session` (`workspace_id`)",
    "DROP INDEX `message_session_idx`",
    "CREATE INDEX `message_session_time_created_id_idx` ON `message` (`session_id`,`time_created`,`id`)",
    "DROP INDEX `part_message_idx`",
    "CREATE INDEX `part_message_id_id_idx` ON `part` (`message_id`,`id`)",
    "ALTER TABLE `session` ADD `path` text",  # 20260428004200_add_session_path
    "ALTER TABLE `session` ADD `agent` text",  # 20260501142318_next_venus
    "ALTER TABLE `session` ADD `model` text",
    "ALTER TABLE `session` ADD `cost` real DEFAULT 0 NOT NULL",  # 20260510033149_session_usage
    "ALTER TABLE `session` ADD `tokens_input` integer DEFAULT 0 NOT NULL",
    "ALTER TABLE `session` ADD `tokens_output` integer DEFAULT 0 NOT NULL",
    "ALTER TABLE `session` ADD `tokens_reasoning` integer DEFAULT 0 NOT NULL",
    "ALTER TABLE `session` ADD `tokens_cache_read` integer DEFAULT 0 NOT NULL",
    "ALTER TABLE `session` ADD `tokens_cache_write` integer DEFAULT 0 NOT NULL",
    "ALTER TABLE `session` ADD `metadata` text",  # 20260511173437_session-metadata
)

# USD per million tokens (input, output, cache read, cache write); only used to make cost plausible.
_PRICES = {
    "claude-sonnet-4-5": (3.0, 15.0, 0.3, 3.75),
    "claude-opus-4-5": (5.0, 25.0, 0.5, 6.25),
    "gpt-5.1-codex": (1.25, 10.0, 0.125, 0.0),
}

_SLUG_ADJ = ("brave", "quiet", "shiny", "swift", "calm", "eager", "mellow", "silent", "bold", "lucky",
             "misty", "sunny", "witty", "gentle", "cosmic", "nimble")
_SLUG_NOUN = ("harbor", "meadow", "cabin", "comet", "falcon", "river", "lantern", "orchard", "canyon",
              "pixel", "willow", "summit", "engine", "otter", "beacon", "garden")

_PATCH_FILE_RE = re.compile(r"^\*\*\* (?:Update|Add|Delete) File: (.+)$", re.M)


def _dumps(obj) -> str:
    # opencode writes JSON.stringify output: compact, non-ASCII kept as is.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _rel(path: str, root: str) -> str:
    if root and root != "/" and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1:]
    return path


class StoreBuilder:
    """Writes opencode rows (project/session/message/part) with real IDs, times and JSON shapes."""

    def __init__(self, path, *, with_agent_column=True, seed=0, start_ms=START_MS,
                 version=DEFAULT_VERSION):
        self.path = Path(path)
        if self.path.exists() and self.path.stat().st_size:
            raise FileExistsError(f"{self.path} already exists; StoreBuilder only creates new stores")
        self.with_agent_column = with_agent_column
        self.version = version
        self._rng = random.Random(f"opencode-store:{seed}")
        self._now = int(start_ms)
        self._id_ms = 0
        self._id_counter = 0
        self._projects: dict[str, str] = {}
        self._sessions: dict[str, dict] = {}
        self.last_part_ids: list[str] = []
        self.last_tool_part_ids: list[str] = []
        self._conn = sqlite3.connect(str(self.path))
        # The real app runs in WAL mode; readers must cope with -wal/-shm files.
        self._conn.execute("PRAGMA journal_mode=WAL")
        # Foreign keys stay off (SQLite's default) so tests can plant orphan rows.
        for stmt in _INITIAL_DDL:
            self._conn.execute(stmt)
        if with_agent_column:
            for stmt in _MIGRATION_DDL:
                self._conn.execute(stmt)
        self._closed = False

    # -- context manager -------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- clock and ids ---------------------------------------------------
    def _at(self, time, lo, hi) -> int:
        t = int(time) if time is not None else self._now + self._rng.randint(lo, hi)
        self._now = max(self._now, t)
        return t

    def _new_id(self, prefix: str, ms: int, *, descending=False) -> str:
        # Same scheme as opencode's id.ts: 6 bytes of ms*4096+counter, then 14 base62 chars.
        # The ms never goes backwards so ids stay ascending in creation order even when a
        # caller passes an earlier explicit time.
        ms = max(int(ms), self._id_ms)
        if ms != self._id_ms:
            self._id_ms, self._id_counter = ms, 0
        self._id_counter += 1
        value = ms * 0x1000 + self._id_counter
        if descending:
            value = ~value
        value &= _MASK48
        rand = "".join(self._rng.choice(BASE62) for _ in range(14))
        return f"{prefix}_{value:012x}{rand}"

    def _hex(self, bits=160) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    def _call_id(self, provider: str) -> str:
        if provider == "openai":
            return "call_" + "".join(self._rng.choice(BASE62) for _ in range(24))
        return "toolu_01" + "".join(self._rng.choice(BASE62) for _ in range(22))

    def _sess(self, session_id: str) -> dict:
        st = self._sessions.get(session_id)
        if st is None:
            # A session written by raw SQL in a test: fall back to neutral defaults.
            st = self._sessions[session_id] = self._new_state("/", "/", DEFAULT_MODEL)
        return st

    @staticmethod
    def _new_state(directory, root, model) -> dict:
        return {"directory": directory, "root": root, "model": tuple(model), "messages": 0,
                "context": 0, "additions": 0, "deletions": 0, "files": []}

    # -- rows ------------------------------------------------------------
    def project(self, worktree, *, id=None, vcs="git", name=None) -> str:
        t = self._at(None, 200, 2000)
        # opencode uses the repo's root-commit hash as project id ("global" outside git).
        pid = id or self._hex(160)
        cols = ["id", "worktree", "vcs", "name", "icon_url", "icon_color", "time_created", "time_updated",
                "time_initialized", "sandboxes"]
        vals = [pid, worktree, vcs if pid != "global" else None, name, None, None, t, t, t, "[]"]
        if self.with_agent_column:
            cols.append("commands")
            vals.append(None)
        self._insert("project", cols, vals)
        self._projects[pid] = worktree
        return pid

    def session(self, project_id, *, directory, title, agent=None, parent_id=None, time_created=None, id=None,
                model=None, version=None, permission=None, path=None) -> str:
        t = self._at(time_created, 1000, 5000)
        sid = id or self._new_id("ses", t, descending=True)
        model = tuple(model or DEFAULT_MODEL)
        root = self._projects.get(project_id, directory)
        if root == "/":
            root = directory
        if permission is None and parent_id is not None:
            # task.ts gives children a ruleset that denies todo tools and nested tasks.
            permission = [{"permission": p, "pattern": "*", "action": "deny"}
                          for p in ("todowrite", "todoread", "task")]
        slug = f"{self._rng.choice(_SLUG_ADJ)}-{self._rng.choice(_SLUG_NOUN)}"
        cols = ["id", "project_id", "parent_id", "slug", "directory", "title", "version", "share_url",
                "summary_additions", "summary_deletions", "summary_files", "summary_diffs", "revert",
                "permission", "time_created", "time_updated", "time_compacting", "time_archived"]
        vals = [sid, project_id, parent_id, slug, directory, title, version or self.version, None, None, None,
                None, None, None, _dumps(permission) if permission is not None else None, t, t, None, None]
        if self.with_agent_column:
            cols += ["workspace_id", "path", "agent", "model", "cost", "tokens_input", "tokens_output",
                     "tokens_reasoning", "tokens_cache_read", "tokens_cache_write", "metadata"]
            # agent and model arrived in the same migration, so both are NULL on older sessions.
            model_json = _dumps({"id": model[1], "providerID": model[0]}) if agent is not None else None
            vals += [None, path, agent, model_json, 0, 0, 0, 0, 0, 0, None]
        self._insert("session", cols, vals)
        self._sessions[sid] = self._new_state(directory, root, model)
        return sid

    def user_message(self, session_id, text, *, agent="build", time=None, synthetic_parts=(), extra_parts=(),
                     model=None) -> str:
        """A user message: `text` (None for none, e.g. compaction), synthetic text parts, then raw extra parts."""
        st = self._sess(session_id)
        # First prompt follows session creation closely; later ones wait for a human.
        t = self._at(time, 500, 3000) if st["messages"] == 0 else self._at(time, 8_000, 240_000)
        provider, model_id = tuple(model or st["model"])
        mid = self._new_id("msg", t)
        data = {"role": "user", "time": {"created": t}, "agent": agent,
                "model": {"providerID": provider, "modelID": model_id}}
        self._insert("message", ["id", "session_id", "time_created", "time_updated", "data"],
                     [mid, session_id, t, t, _dumps(data)])
        parts = []
        if text is not None:
            parts.append({"type": "text", "text": text})
        parts += [{"type": "text", "text": s, "synthetic": True} for s in synthetic_parts]
        parts += [dict(p) for p in extra_parts]
        self.last_part_ids = [self._part(session_id, mid, p, t, t) for p in parts]
        self.last_tool_part_ids = []
        st["messages"] += 1
        self._touch(session_id, t)
        return mid

    def assistant_step(self, session_id, parent_id, *, agent="build", text=None, reasoning=None, tools=(),
                       finish="tool-calls", time=None, error=None, summary=False, extra_parts=(),
                       snapshot="random", end_snapshot="random") -> str:
        """One LLM step. finish=None leaves the step interrupted (no step-finish, no completed time).

        snapshot / end_snapshot: the git tree hashes of its step-start and step-finish parts ("random": made up;
        None: no snapshot field, as opencode writes with snapshots off or outside git)."""
        st = self._sess(session_id)
        rng = self._rng
        provider, model_id = st["model"]
        t0 = self._at(time, 300, 1600)
        mid = self._new_id("msg", t0)
        snapshot = self._hex(160) if snapshot == "random" else snapshot
        start_part = {"type": "step-start", "snapshot": snapshot} if snapshot is not None else {"type": "step-start"}
        parts: list[tuple[dict, int, int]] = [(start_part, t0 + 5, t0 + 5)]
        cur = t0 + rng.randint(200, 900)
        if reasoning:
            end = cur + min(len(reasoning) * 4, 9000) + rng.randint(50, 400)
            meta = ({"openai": {"itemId": "rs_" + self._hex(96)}} if provider == "openai"
                    else {"anthropic": {"signature": "".join(rng.choice(BASE62) for _ in range(48))}})
            parts.append(({"type": "reasoning", "text": reasoning, "time": {"start": cur, "end": end},
                           "metadata": meta}, cur, end))
            cur = end
        if text:
            end = cur + min(len(text) * 3, 8000) + rng.randint(20, 200)
            parts.append(({"type": "text", "text": text, "time": {"start": cur, "end": end}}, cur, end))
            cur = end
        changed: list[str] = []
        additions = deletions = 0
        todo_writes = []
        tool_indexes = []
        for spec in tools:
            start = int(spec.get("start", cur + rng.randint(30, 300)))
            end = int(spec.get("end", start + _tool_duration(rng, spec)))
            state = self._tool_state(st, spec, start, end)
            part = {"type": "tool", "callID": spec.get("callID") or self._call_id(provider),
                    "tool": spec["tool"], "state": state}
            tool_indexes.append(len(parts))
            parts.append((part, start, end if state["status"] in ("completed", "error") else start))
            cur = max(cur, end if state["status"] in ("completed", "error") else start)
            if state["status"] == "completed":
                f, a, d = _changes(spec, st["directory"])
                changed += [x for x in f if x not in changed]
                additions, deletions = additions + a, deletions + d
                if spec["tool"] == "todowrite":
                    todo_writes.append((spec["input"].get("todos", []), end))
        for extra in extra_parts:
            parts.append((dict(extra), cur, cur))
        interrupted = finish is None
        completed = cur + rng.randint(200, 1800)
        cost, tokens = 0, {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
        if not interrupted:
            cost, tokens = self._usage(st, text, reasoning, tools)
            end = self._hex(160) if end_snapshot == "random" else end_snapshot
            finish_part = {"type": "step-finish", "reason": finish, **({"snapshot": end} if end is not None else {}),
                           "cost": cost, "tokens": tokens}
            parts.append((finish_part, completed - 1, completed - 1))
            if changed and snapshot is not None:
                parts.append(({"type": "patch", "hash": snapshot, "files": changed}, completed, completed))
        data = {"role": "assistant", "time": {"created": t0}, "parentID": parent_id, "modelID": model_id,
                "providerID": provider, "mode": agent, "agent": agent,
                "path": {"cwd": st["directory"], "root": st["root"]}, "cost": cost, "tokens": tokens}
        if not interrupted:
            data["time"]["completed"] = completed
            data["finish"] = finish
        if summary:
            data["summary"] = True
        if error is not None:
            data["error"] = error if isinstance(error, dict) else {"name": "UnknownError",
                                                                   "data": {"message": str(error)}}
        updated = completed if not interrupted else cur
        self._insert("message", ["id", "session_id", "time_created", "time_updated", "data"],
                     [mid, session_id, t0, updated, _dumps(data)])
        self.last_part_ids = [self._part(session_id, mid, p, tc, tu) for p, tc, tu in parts]
        self.last_tool_part_ids = [self.last_part_ids[i] for i in tool_indexes]
        for todos, when in todo_writes:
            self._write_todos(session_id, todos, when)
        self._now = max(self._now, updated)
        st["messages"] += 1
        self._touch(session_id, updated, cost=cost, tokens=tokens, files=changed, additions=additions,
                    deletions=deletions)
        return mid

    def raw_message(self, session_id, data_text, *, id=None, time=None) -> str:
        """A message row with arbitrary data text; None is stored as 'null' since the column is NOT NULL."""
        t = self._at(time, 100, 1000)
        mid = id or self._new_id("msg", t)
        self._insert("message", ["id", "session_id", "time_created", "time_updated", "data"],
                     [mid, session_id, t, t, "null" if data_text is None else data_text])
        return mid

    def raw_part(self, session_id, message_id, data_text, *, id=None, time=None) -> str:
        t = self._at(time, 10, 200)
        pid = id or self._new_id("prt", t)
        self._insert("part", ["id", "message_id", "session_id", "time_created", "time_updated", "data"],
                     [pid, message_id, session_id, t, t, "null" if data_text is None else data_text])
        return pid

    def prune_tool_output(self, part_id, *, time=None) -> None:
        """Mark a tool result as pruned (state.time.compacted), as opencode does after compaction."""
        t = self._at(time, 10, 100)
        row = self._conn.execute("SELECT data FROM part WHERE id = ?", (part_id,)).fetchone()
        data = json.loads(row[0])
        data["state"].setdefault("time", {})["compacted"] = t
        self._conn.execute("UPDATE part SET data = ?, time_updated = ? WHERE id = ?", (_dumps(data), t, part_id))

    def close(self) -> None:
        if self._closed:
            return
        self._conn.commit()
        # Fold the WAL back in so the main file alone is a complete database.
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()
        self._closed = True

    # -- internals -------------------------------------------------------
    def _insert(self, table, cols, vals) -> None:
        self._conn.execute(f"INSERT INTO `{table}` ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                           vals)

    def _part(self, session_id, message_id, data, created, updated) -> str:
        pid = self._new_id("prt", created)
        self._insert("part", ["id", "message_id", "session_id", "time_created", "time_updated", "data"],
                     [pid, message_id, session_id, created, updated, _dumps(data)])
        return pid

    def _touch(self, session_id, t, *, cost=0, tokens=None, files=(), additions=0, deletions=0) -> None:
        st = self._sess(session_id)
        sets, vals = ["time_updated = MAX(time_updated, ?)"], [t]
        if files or additions or deletions:
            st["files"] += [f for f in files if f not in st["files"]]
            st["additions"] += additions
            st["deletions"] += deletions
            sets += ["summary_additions = ?", "summary_deletions = ?", "summary_files = ?"]
            vals += [st["additions"], st["deletions"], len(st["files"])]
        if self.with_agent_column and tokens:
            # session_usage backfills these as the sum over step-finish parts; keep them in sync.
            sets += ["cost = cost + ?", "tokens_input = tokens_input + ?", "tokens_output = tokens_output + ?",
                     "tokens_reasoning = tokens_reasoning + ?", "tokens_cache_read = tokens_cache_read + ?",
                     "tokens_cache_write = tokens_cache_write + ?"]
            vals += [cost, tokens["input"], tokens["output"], tokens["reasoning"], tokens["cache"]["read"],
                     tokens["cache"]["write"]]
        vals.append(session_id)
        self._conn.execute(f"UPDATE session SET {', '.join(sets)} WHERE id = ?", vals)

    def _write_todos(self, session_id, todos, t) -> None:
        self._conn.execute("DELETE FROM todo WHERE session_id = ?", (session_id,))
        for pos, todo in enumerate(todos):
            self._insert("todo", ["session_id", "content", "status", "priority", "position", "time_created",
                                  "time_updated"],
                         [session_id, todo.get("content", ""), todo.get("status", "pending"),
                          todo.get("priority", "medium"), pos, t, t])

    def _usage(self, st, text, reasoning, tools):
        rng = self._rng
        provider, model_id = st["model"]
        if st["context"] == 0:
            st["context"] = rng.randint(9_000, 16_000)  # system prompt + tool definitions
        fresh = rng.randint(150, 900) + sum(len(str(s.get("output", ""))) for s in tools) // 4
        output = rng.randint(40, 260) + len(text or "") // 4 + sum(len(_dumps(s.get("input", {}))) for s in tools) // 4
        reasoning_tokens = len(reasoning) // 4 + rng.randint(0, 80) if reasoning else 0
        cache_read = st["context"]
        cache_write = fresh if provider == "anthropic" else 0
        st["context"] += fresh + output
        price = _PRICES.get(model_id, _PRICES["claude-sonnet-4-5"])
        cost = round((fresh * price[0] + (output + reasoning_tokens) * price[1] + cache_read * price[2]
                      + cache_write * price[3]) / 1e6, 7)
        tokens = {"total": fresh + output + reasoning_tokens + cache_read + cache_write, "input": fresh,
                  "output": output, "reasoning": reasoning_tokens,
                  "cache": {"read": cache_read, "write": cache_write}}
        return cost, tokens

    def _tool_state(self, st, spec, start, end) -> dict:
        status = spec.get("status", "completed")
        tool = spec["tool"]
        inp = spec.get("input", {})
        if status == "pending":
            return {"status": "pending", "input": {}, "raw": spec.get("raw", "")}
        title = spec.get("title") or _default_title(tool, inp, st["root"])
        if status == "running":
            state = {"status": "running", "input": inp, "title": title, "time": {"start": start}}
            if "metadata" in spec:
                state["metadata"] = spec["metadata"]
            return state
        if status == "error":
            state = {"status": "error", "input": inp, "error": spec.get("error", "Tool execution aborted"),
                     "time": {"start": start, "end": end}}
            if "metadata" in spec:
                state["metadata"] = spec["metadata"]
            return state
        output = spec.get("output", "")
        metadata = spec["metadata"] if "metadata" in spec else _default_metadata(tool, inp, output, spec)
        times = {"start": start, "end": end}
        if spec.get("compacted"):
            times["compacted"] = int(spec["compacted"])
        return {"status": "completed", "input": inp, "output": output, "title": title, "metadata": metadata,
                "time": times}


_TOOL_MS = {"read": (4, 45), "edit": (15, 140), "write": (10, 90), "glob": (8, 120), "grep": (10, 220),
            "todowrite": (2, 12), "apply_patch": (20, 160)}


def _tool_duration(rng, spec) -> int:
    tool = spec["tool"]
    if tool == "bash":
        # Builds and test runs take seconds; long outputs take longer.
        return rng.randint(400, 9_000) + len(str(spec.get("output", ""))) // 20
    if tool == "task":
        return rng.randint(15_000, 60_000)
    return rng.randint(*_TOOL_MS.get(tool, (10, 300)))


def _default_title(tool, inp, root) -> str:
    if tool == "bash":
        return inp.get("command", "")
    if tool in ("read", "edit", "write"):
        return _rel(inp.get("filePath", ""), root)
    if tool in ("glob", "grep"):
        return inp.get("pattern", "")
    if tool == "todowrite":
        return f"{sum(1 for t in inp.get('todos', []) if t.get('status') != 'completed')} todos"
    if tool == "task":
        return inp.get("description", "")
    if tool == "apply_patch":
        return ", ".join(_rel(p, root) for p in _PATCH_FILE_RE.findall(inp.get("patchText", "")))
    return tool


def _default_metadata(tool, inp, output, spec) -> dict:
    if tool == "bash":
        return {"output": output[:_BASH_METADATA_LIMIT], "exit": spec.get("exit", 0),
                "description": inp.get("description", "")}
    if tool == "read":
        body = output.split("<content>\n", 1)[-1].split("\n\n(End of file", 1)[0].split("\n")
        preview = "\n".join(line.split(": ", 1)[-1] for line in body[:20])
        return {"preview": preview, "truncated": False, "loaded": []}
    if tool == "edit":
        old, new = inp.get("oldString", ""), inp.get("newString", "")
        path = inp.get("filePath", "")
        diff = (f"Index: {path}\n===================================================================\n--- {path}\n"
                f"+++ {path}\n" + "".join(f"-{line}\n" for line in old.split("\n"))
                + "".join(f"+{line}\n" for line in new.split("\n")))
        return {"diagnostics": {}, "diff": diff}
    if tool == "write":
        return {"diagnostics": {}, "filepath": inp.get("filePath", ""), "exists": bool(spec.get("exists"))}
    if tool == "glob":
        return {"count": 0 if output.startswith("No files found") else len(output.splitlines()),
                "truncated": False}
    if tool == "grep":
        return {"matches": output.count("  Line "), "truncated": False}
    if tool == "todowrite":
        return {"todos": inp.get("todos", [])}
    if tool == "apply_patch":
        return {"diff": inp.get("patchText", "")}
    return {}


def _changes(spec, cwd):
    """(files, additions, deletions) a completed tool made, for patch parts and session summary."""
    tool, inp = spec["tool"], spec.get("input", {})

    def absolute(p):
        return p if p.startswith("/") else f"{cwd.rstrip('/')}/{p}"

    if tool == "edit":
        return ([absolute(inp.get("filePath", ""))], inp.get("newString", "").count("\n") + 1,
                inp.get("oldString", "").count("\n") + 1)
    if tool == "write":
        return [absolute(inp.get("filePath", ""))], inp.get("content", "").count("\n") + 1, 0
    if tool == "apply_patch":
        text = inp.get("patchText", "")
        lines = text.split("\n")
        adds = sum(1 for line in lines if line.startswith("+"))
        dels = sum(1 for line in lines if line.startswith("-"))
        return [absolute(p) for p in _PATCH_FILE_RE.findall(text)], adds, dels
    return [], 0, 0


# ---------------------------------------------------------------------------
# Content: tool specs, tasks and per-language kits for the default store.
# ---------------------------------------------------------------------------

def _fill(template: str, **kw) -> str:
    # «name» placeholders, because the code in the templates is full of {} and $.
    for key, value in kw.items():
        template = template.replace(f"«{key}»", str(value))
    return template


def _line_of(content: str, needle: str) -> int:
    for i, line in enumerate(content.split("\n"), 1):
        if needle in line:
            return i
    return 1


def _col_of(content: str, needle: str) -> int:
    line = content.split("\n")[_line_of(content, needle) - 1]
    return line.find(needle) + 1


class _Ctx:
    """Generation context of one session."""

    def __init__(self, b: StoreBuilder, r: random.Random, sid: str, root: str, name: str, provider: str,
                 reasoning: bool = False, agent: str = "build"):
        self.b, self.r, self.sid, self.root, self.name = b, r, sid, root, name
        self.provider, self.reasoning, self.agent = provider, reasoning, agent
        self.crate = name.replace("-", "_")

    def abs(self, rel: str) -> str:
        return rel if rel.startswith("/") else f"{self.root}/{rel}"


class _Task:
    def __init__(self, title, prompt, *, reads, fixes, verify, summary, diagnose=None, search=None, think=None,
                 todos=None, extra_reads=()):
        self.title, self.prompt, self.reads, self.fixes = title, prompt, reads, fixes
        self.verify, self.summary, self.diagnose, self.search = verify, summary, diagnose, search
        self.think, self.todos, self.extra_reads = think, todos, list(extra_reads)


def _bash(cmd, desc, output, exit=0) -> dict:
    return {"tool": "bash", "input": {"command": cmd, "description": desc}, "output": output, "exit": exit}


def _read_output(path: str, content: str) -> str:
    lines = content.rstrip("\n").split("\n")
    body = "\n".join(f"{i}: {line}" for i, line in enumerate(lines, 1))
    return (f"<path>{path}</path>\n<type>file</type>\n<content>\n{body}\n\n"
            f"(End of file - total {len(lines)} lines)\n</content>")


def _read(ctx, rel, content) -> dict:
    path = ctx.abs(rel)
    return {"tool": "read", "input": {"filePath": path}, "output": _read_output(path, content)}


def _read_missing(ctx, rel) -> dict:
    path = ctx.abs(rel)
    return {"tool": "read", "input": {"filePath": path}, "status": "error", "error": f"Error: File not found: {path}"}


def _edit(ctx, rel, old, new) -> dict:
    return {"tool": "edit", "input": {"filePath": ctx.abs(rel), "oldString": old, "newString": new},
            "output": "Edit applied successfully."}


def _write(ctx, rel, content) -> dict:
    return {"tool": "write", "input": {"filePath": ctx.abs(rel), "content": content},
            "output": "Wrote file successfully."}


def _glob(ctx, pattern, rels) -> dict:
    out = "\n".join(ctx.abs(p) for p in rels) if rels else "No files found"
    return {"tool": "glob", "input": {"pattern": pattern, "path": ctx.root}, "output": out}


def _grep(ctx, pattern, hits, include=None) -> dict:
    by_file: dict[str, list] = {}
    for rel, ln, text in hits:
        by_file.setdefault(ctx.abs(rel), []).append((ln, text))
    chunks = [f"{path}:\n" + "\n".join(f"  Line {ln}: {text}" for ln, text in lines) for path, lines in by_file.items()]
    out = f"Found {len(hits)} matches\n" + "\n\n".join(chunks) if hits else "No files found"
    inp = {"pattern": pattern, "path": ctx.root}
    if include:
        inp["include"] = include
    return {"tool": "grep", "input": inp, "output": out}


def _todo_tool(items, done=0, active=True) -> dict:
    todos = []
    for i, (content, priority) in enumerate(items):
        status = "completed" if i < done else ("in_progress" if i == done and active else "pending")
        todos.append({"content": content, "status": status, "priority": priority, "id": str(i + 1)})
    return {"tool": "todowrite", "input": {"todos": todos}, "output": json.dumps(todos, indent=2)}


def _apply_patch(ctx, fixes) -> dict:
    lines = ["*** Begin Patch"]
    summary = []
    current = None
    for fix in fixes:
        if fix[0] == "edit":
            _, rel, old, new = fix
            # Several hunks in one file share a single Update File header, as in real patches.
            if current != rel:
                lines.append(f"*** Update File: {rel}")
                summary.append(f"M {rel}")
            lines += ["@@"] + [f"-{x}" for x in old.split("\n")] + [f"+{x}" for x in new.split("\n")]
            current = rel
        else:
            _, rel, content = fix
            lines += [f"*** Add File: {rel}"] + [f"+{x}" for x in content.rstrip("\n").split("\n")]
            summary.append(f"A {rel}")
            current = None
    lines.append("*** End Patch")
    return {"tool": "apply_patch", "input": {"patchText": "\n".join(lines)},
            "output": "Success. Updated the following files:\n" + "\n".join(summary)}


def _fix_tools(ctx, fixes) -> list:
    if ctx.provider == "openai":
        return [_apply_patch(ctx, fixes)]
    return [_edit(ctx, f[1], f[2], f[3]) if f[0] == "edit" else _write(ctx, f[1], f[2]) for f in fixes]


def _step(text=None, tools=(), finish="tool-calls", reasoning=None) -> dict:
    return {"text": text, "tools": list(tools), "finish": finish, "reasoning": reasoning}


_INTRO_DIAG = ("Let me reproduce the failure first.", "I'll run the command to see the exact error.",
               "Let me check the current state of the build.", None, None)
_INTRO_READ = ("Let me look at the code involved.", "I'll read the relevant file.", "Now let me check the source.",
               None, None)
_INTRO_FIX = ("Found it. Applying the fix.", "I'll make the change now.", None, None)
_INTRO_VERIFY = ("Let me verify the change.", "Running it again to confirm.", None, None)


def _task_steps(ctx: _Ctx, task: _Task) -> list:
    r = ctx.r
    steps = []
    think = task.think or "Let me figure out where this comes from before editing anything."
    first = []
    if task.todos and r.random() < 0.45:
        first.append(_todo_tool(task.todos))
    if task.diagnose:
        first.append(task.diagnose)
        steps.append(_step(r.choice(_INTRO_DIAG), first, reasoning=think if ctx.reasoning else None))
        first = []
    error_kind = r.choice((None, None, None, "read", "edit"))
    reads = [_read(ctx, rel, content) for rel, content in task.reads] + list(task.extra_reads)
    if error_kind == "read":
        rel = task.reads[0][0]
        wrong = rel.replace("src/", "lib/", 1) if rel.startswith("src/") else "src/" + rel
        steps.append(_step(None, first + [_read_missing(ctx, wrong)]))
        first = []
    search = [task.search] if task.search and r.random() < 0.7 else []
    steps.append(_step(r.choice(_INTRO_READ), first + search + reads,
                       reasoning=think if ctx.reasoning and not steps else None))
    fix_tools = _fix_tools(ctx, task.fixes)
    edits = [f for f in task.fixes if f[0] == "edit"]
    if error_kind == "edit" and edits and ctx.provider != "openai":
        _, rel, old, new = edits[0]
        bad_old = old.replace("    ", "\t", 1) if "    " in old else old + " "
        steps.append(_step(None, [{"tool": "edit", "input": {"filePath": ctx.abs(rel), "oldString": bad_old,
                                                             "newString": new},
                                   "status": "error", "error": "Error: oldString not found in content"}]))
        text = "The old text didn't match the file exactly; retrying with the exact lines."
    else:
        text = r.choice(_INTRO_FIX)
    steps.append(_step(text, fix_tools, reasoning="The fix is small; apply it and re-run." if ctx.reasoning else None))
    verify = [task.verify]
    if task.todos and any(s["tool"] == "todowrite" for st in steps for s in st["tools"]):
        verify.append(_todo_tool(task.todos, done=len(task.todos), active=False))
    steps.append(_step(r.choice(_INTRO_VERIFY), verify))
    steps.append(_step(task.summary, finish="stop"))
    return steps


def _play(ctx: _Ctx, prompt: str, steps: list, *, agent=None) -> str:
    agent = agent or ctx.agent
    uid = ctx.b.user_message(ctx.sid, prompt, agent=agent)
    for s in steps:
        ctx.b.assistant_step(ctx.sid, uid, agent=agent, text=s["text"], reasoning=s["reasoning"], tools=s["tools"],
                             finish=s["finish"], error=s.get("error"))
    return uid


# -- shared output snippets --------------------------------------------------

def _commit_followup(ctx: _Ctx, title: str) -> tuple[str, list]:
    r = ctx.r
    msg = title[0].lower() + title[1:] if r.random() < 0.5 else title
    n_files = r.randint(1, 3)
    out = (f"[main {ctx.b._hex(28)}] {msg}\n {n_files} file{'s' if n_files > 1 else ''} changed, "
           f"{r.randint(2, 30)} insertions(+), {r.randint(1, 12)} deletions(-)")
    prompt = r.choice(("commit this", "Looks good, commit it please.", "great, can you commit that?"))
    return prompt, [_step(None, [_bash(f'git add -A && git commit -m "{msg}"', "Commit the fix", out)]),
                    _step(r.choice((f"Committed as \"{msg}\".", "Done, the change is committed.")), finish="stop")]


def _followup(ctx: _Ctx, kit: dict, title: str) -> tuple[str, list]:
    r = ctx.r
    kind = r.choice(("tests", "lint", "commit"))
    if kind == "commit":
        return _commit_followup(ctx, title)
    spec = kit["tests"](ctx) if kind == "tests" else kit["lint"](ctx)
    prompt = r.choice(kit["test_prompts"] if kind == "tests" else kit["lint_prompts"])
    done = r.choice(("All green.", "Everything passes.", "No issues reported.", "Clean run, nothing else to fix."))
    return prompt, [_step(r.choice(_INTRO_VERIFY), [spec]), _step(done, finish="stop")]


# -- Rust ----------------------------------------------------------------------

_CRATES = (("proc-macro2", "1.0.86"), ("unicode-ident", "1.0.12"), ("quote", "1.0.36"), ("syn", "2.0.72"),
           ("serde", "1.0.204"), ("serde_derive", "1.0.204"), ("libc", "0.2.155"), ("cfg-if", "1.0.0"),
           ("memchr", "2.7.4"), ("log", "0.4.22"), ("itoa", "1.0.11"), ("ryu", "1.0.18"),
           ("serde_json", "1.0.120"), ("once_cell", "1.19.0"), ("bitflags", "2.6.0"), ("regex-syntax", "0.8.4"),
           ("aho-corasick", "1.1.3"), ("regex-automata", "0.4.7"), ("regex", "1.10.5"), ("anstyle", "1.0.7"),
           ("utf8parse", "0.2.2"), ("anstyle-parse", "0.2.4"), ("colorchoice", "1.0.1"), ("anstream", "0.6.14"),
           ("strsim", "0.11.1"), ("heck", "0.5.0"), ("clap_lex", "0.7.1"), ("clap_builder", "4.5.9"),
           ("clap_derive", "4.5.8"), ("clap", "4.5.9"), ("anyhow", "1.0.86"), ("env_filter", "0.1.0"),
           ("humantime", "2.1.0"), ("env_logger", "0.11.3"), ("pin-project-lite", "0.2.14"), ("bytes", "1.6.1"),
           ("mio", "1.0.1"), ("socket2", "0.5.7"), ("tokio-macros", "2.3.0"), ("tokio", "1.38.1"))


def _cargo_verbose_log(ctx: _Ctx) -> str:
    # A `cargo build -v` log: one long rustc command line per dependency, > 20 KB before the error.
    home = "/home/dev"
    lines = []
    for crate, ver in _CRATES:
        cname = crate.replace("-", "_")
        meta = ctx.b._hex(64)
        lines.append(f"   Compiling {crate} v{ver}")
        lines.append(
            f"     Running `{home}/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc --crate-name {cname} "
            f"--edition=2021 {home}/.cargo/registry/src/index.crates.io-6f17d22bba15001f/{crate}-{ver}/src/lib.rs "
            "--error-format=json --json=diagnostic-rendered-ansi,artifacts,future-incompat --crate-type lib "
            "--emit=dep-info,metadata,link -C embed-bitcode=no -C debuginfo=2 --cfg 'feature=\"default\"' "
            f"--cfg 'feature=\"std\"' -C metadata={meta} -C extra-filename=-{meta} --out-dir "
            f"{ctx.root}/target/debug/deps -L dependency={ctx.root}/target/debug/deps --cap-lints allow`")
    lines.append(f"   Compiling {ctx.name} v0.1.0 ({ctx.root})")
    return "\n".join(lines) + "\n"


def _rust_moved(ctx: _Ctx, long_log=False) -> _Task:
    r = ctx.r
    ty, var = r.choice(("Config", "Settings", "AppConfig")), r.choice(("config", "settings", "cfg"))
    field, srv = r.choice(("addr", "bind_addr", "listen_on")), r.choice(("Server", "App", "Daemon"))
    main = _fill("""use «crate»::{«ty», «srv»};

fn main() -> anyhow::Result<()> {
    env_logger::init();
    let «var» = «ty»::from_env()?;
    let server = «srv»::new(«var»);
    println!("listening on {}", «var».«field»);
    server.run()?;
    Ok(())
}
""", crate=ctx.crate, ty=ty, srv=srv, var=var, field=field)
    let_ln, move_ln, use_ln = (_line_of(main, f"let {var} ="), _line_of(main, "let server"),
                               _line_of(main, "println!"))
    col = _col_of(main, f"{var}.{field}")
    pad = " " * len(str(use_ln))
    err = _fill("""error[E0382]: borrow of moved value: `«var»`
 --> src/main.rs:«use_ln»:«col»
«pad» |
«let_ln» |     let «var» = «ty»::from_env()?;
«pad» |         «under» move occurs because `«var»` has type `«ty»`, which does not implement the `Copy` trait
«move_ln» |     let server = «srv»::new(«var»);
«pad» |                              «dash» value moved here
«use_ln» |     println!("listening on {}", «var».«field»);
«pad» |                                 «carets» value borrowed here after move
«pad» |
help: consider cloning the value if the performance cost is acceptable
«pad» |
«move_ln» |     let server = «srv»::new(«var».clone());
«pad» |                              «plus»

For more information about this error, try `rustc --explain E0382`.
error: could not compile `«name»` (bin "«name»") due to 1 previous error
""", var=var, ty=ty, srv=srv, field=field, use_ln=use_ln, let_ln=let_ln, move_ln=move_ln, col=col, pad=pad,
                name=ctx.name, under="-" * len(var), dash="-" * len(var), carets="^" * (len(var) + len(field) + 1),
                plus="+" * 8)
    cmd = "cargo build -v" if long_log else "cargo build"
    out = (_cargo_verbose_log(ctx) if long_log else f"   Compiling {ctx.name} v0.1.0 ({ctx.root})\n") + err
    old = f"    let server = {srv}::new({var});\n    println!(\"listening on {{}}\", {var}.{field});"
    if r.random() < 0.5:
        new = f"    println!(\"listening on {{}}\", {var}.{field});\n    let server = {srv}::new({var});"
        how = f"moved the `println!` above `{srv}::new` so the borrow happens before the move"
    else:
        new = f"    let server = {srv}::new({var}.clone());\n    println!(\"listening on {{}}\", {var}.{field});"
        how = f"pass a clone of `{var}` into `{srv}::new` (it derives `Clone` already)"
    return _Task(
        r.choice(("Fix borrow of moved value in main.rs", "Fix E0382 moved value error", "Resolve cargo build borrow error")),
        r.choice((f"cargo build fails with `error[E0382]: borrow of moved value: `{var}``. Can you fix it?",
                  f"The build broke after I refactored the {srv.lower()} setup, can you take a look? cargo complains about a moved value.",
                  "fix the borrow checker error in src/main.rs")),
        diagnose=_bash(cmd, "Build the crate", out, 101), reads=[("src/main.rs", main)],
        fixes=[("edit", "src/main.rs", old, new)],
        verify=_bash("cargo build", "Build the crate",
                     f"   Compiling {ctx.name} v0.1.0 ({ctx.root})\n    Finished `dev` profile [unoptimized + debuginfo] "
                     f"target(s) in {r.randint(1, 9)}.{r.randint(10, 99)}s"),
        summary=f"Fixed the E0382 error: `{var}` was moved into `{srv}::new` and then borrowed for the log line. "
                f"I {how}. `cargo build` now succeeds.",
        think=f"E0382: `{var}` is moved into `{srv}::new` on line {move_ln} and used again on line {use_ln}. "
              "Either reorder or clone.",
        todos=[("Reproduce the E0382 build error", "high"), ("Fix the moved value in main.rs", "high"),
               ("Re-run cargo build", "medium")])


def _rust_clap(ctx: _Ctx) -> _Task:
    r = ctx.r
    flag, field, help_ = r.choice((("verbose", "verbose", "Print debug output"),
                                   ("json", "json", "Emit JSON instead of a table"),
                                   ("dry-run", "dry_run", "Show what would change without writing"),
                                   ("no-color", "no_color", "Disable colored output")))
    about = r.choice(("Count words in text files", "Tail and filter log files", "Tiny key-value store CLI"))
    main = _fill("""use clap::Parser;
use «crate»::run;

/// «about»
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Input file to process
    input: std::path::PathBuf,

    /// Number of worker threads
    #[arg(short, long, default_value_t = 4)]
    jobs: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    run(&cli.input, cli.jobs)
}
""", crate=ctx.crate, about=about)
    cargo = _fill("""[package]
name = "«name»"
version = "0.1.0"
edition = "2021"

[dependencies]
anyhow = "1.0"
clap = { version = "4.5", features = ["derive"] }
""", name=ctx.name)
    lib_old = "pub fn run(input: &Path, jobs: usize) -> anyhow::Result<()> {"
    lib = _fill("""use std::path::Path;

pub fn run(input: &Path, jobs: usize) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(input)?;
    let report = analyze(&text, jobs);
    println!("{report}");
    Ok(())
}
""")
    help_out = _fill("""   Compiling «name» v0.1.0 («root»)
    Finished `dev` profile [unoptimized + debuginfo] target(s) in 2.87s
     Running `target/debug/«name» --help`
«about»

Usage: «name» [OPTIONS] <INPUT>

Arguments:
  <INPUT>  Input file to process

Options:
  -j, --jobs <JOBS>  Number of worker threads [default: 4]
      --«flag»«sp»«help»
  -h, --help         Print help
  -V, --version      Print version""", name=ctx.name, root=ctx.root, about=about, flag=flag,
                     sp=" " * max(1, 13 - len(flag)), help=help_)
    return _Task(
        r.choice((f"Add --{flag} flag to the CLI", f"Add --{flag} option via clap")),
        r.choice((f"Add a `--{flag}` flag to the CLI ({help_.lower()}). Use clap derive like the other args.",
                  f"can you add a --{flag} option? it should {help_.lower()}")),
        search=_grep(ctx, "derive\\(Parser", [("src/main.rs", 5, "#[derive(Parser, Debug)]")], include="*.rs"),
        reads=[("Cargo.toml", cargo), ("src/main.rs", main), ("src/lib.rs", lib)],
        fixes=[("edit", "src/main.rs", "    jobs: usize,\n}",
                f"    jobs: usize,\n\n    /// {help_}\n    #[arg(long)]\n    {field}: bool,\n}}"),
               ("edit", "src/main.rs", "    run(&cli.input, cli.jobs)", f"    run(&cli.input, cli.jobs, cli.{field})"),
               ("edit", "src/lib.rs", lib_old,
                f"pub fn run(input: &Path, jobs: usize, {field}: bool) -> anyhow::Result<()> {{")],
        verify=_bash("cargo run -- --help", "Check the new flag in help output", help_out),
        summary=f"Added `--{flag}` (`{field}: bool`) to `Cli` in src/main.rs and threaded it through `run` in "
                f"src/lib.rs. `cargo run -- --help` lists the new option.",
        todos=[(f"Add {field} field to Cli", "high"), ("Pass it through run()", "medium")])


def _rust_test_fail(ctx: _Ctx) -> _Task:
    r = ctx.r
    fn, test = r.choice((("parse_fields", "parses_trailing_comma"), ("split_tags", "ignores_empty_tags"),
                         ("tokenize", "skips_blank_tokens")))
    mod = r.choice(("parser", "tokens", "input"))
    src = _fill("""/// Split a comma separated line into trimmed fields.
pub fn «fn»(line: &str) -> Vec<&str> {
    line.split(',').map(|s| s.trim()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple_line() {
        assert_eq!(«fn»("a, b, c"), vec!["a", "b", "c"]);
    }

    #[test]
    fn «test»() {
        assert_eq!(«fn»("a, b,"), vec!["a", "b"]);
    }
}
""", fn=fn, test=test)
    ln = _line_of(src, 'vec!["a", "b"]);')
    fail = _fill("""   Compiling «name» v0.1.0 («root»)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.42s
     Running unittests src/lib.rs (target/debug/deps/«crate»-«h»)

running 2 tests
test «mod»::tests::parses_simple_line ... ok
test «mod»::tests::«test» ... FAILED

failures:

---- «mod»::tests::«test» stdout ----

thread '«mod»::tests::«test»' panicked at src/«mod».rs:«ln»:9:
assertion `left == right` failed
  left: ["a", "b", ""]
 right: ["a", "b"]
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    «mod»::tests::«test»

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--lib`""", name=ctx.name, root=ctx.root, crate=ctx.crate, h=ctx.b._hex(64),
                 mod=mod, test=test, ln=ln)
    ok = _fill("""   Compiling «name» v0.1.0 («root»)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.98s
     Running unittests src/lib.rs (target/debug/deps/«crate»-«h»)

running 2 tests
test «mod»::tests::parses_simple_line ... ok
test «mod»::tests::«test» ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
""", name=ctx.name, root=ctx.root, crate=ctx.crate, h=ctx.b._hex(64), mod=mod, test=test)
    return _Task(
        r.choice((f"Fix failing {test} test", "Fix cargo test failure", f"Make {fn} skip empty fields")),
        r.choice((f"cargo test is failing on `{test}`, please fix the implementation not the test",
                  "One of the unit tests fails after my last change. Can you fix it?")),
        diagnose=_bash("cargo test", "Run the test suite", fail, 101), reads=[(f"src/{mod}.rs", src)],
        fixes=[("edit", f"src/{mod}.rs", "    line.split(',').map(|s| s.trim()).collect()",
                "    line.split(',').map(|s| s.trim()).filter(|s| !s.is_empty()).collect()")],
        verify=_bash("cargo test", "Run the test suite", ok),
        summary=f"`{fn}` kept the empty field after a trailing comma. I added `.filter(|s| !s.is_empty())` after "
                f"the trim, so `{test}` passes and the other test is unchanged.",
        think="The trailing comma yields an empty string after trim; filter empties out.")


def _rust_clippy(ctx: _Ctx) -> _Task:
    r = ctx.r
    mod = r.choice(("loader", "store", "io"))
    fn = r.choice(("load_entries", "read_index", "open_log"))
    src = _fill("""use std::path::Path;

use anyhow::Context;

pub fn «fn»(path: &Path) -> anyhow::Result<Vec<String>> {
    let content = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(content.lines().map(str::to_owned).collect())
}
""", fn=fn)
    ln = _line_of(src, "read_to_string(&path)")
    col = _col_of(src, "&path")
    fail = _fill("""    Checking «name» v0.1.0 («root»)
error: the borrowed expression implements the required traits
 --> src/«mod».rs:«ln»:«col»
  |
«ln» |     let content = std::fs::read_to_string(&path)
  |                                           ^^^^^ help: change this to: `path`
  |
  = help: for further information visit https://rust-lang.github.io/rust-clippy/master/index.html#needless_borrows_for_generic_args
  = note: `-D clippy::needless-borrows-for-generic-args` implied by `-D warnings`
  = help: to override `-D warnings` add `#[allow(clippy::needless_borrows_for_generic_args)]`

error: could not compile `«name»` (lib) due to 1 previous error""", name=ctx.name, root=ctx.root, mod=mod, ln=ln,
                 col=col)
    return _Task(
        r.choice(("Fix clippy needless borrow warning", "Make clippy pass with -D warnings",
                  f"Clean up clippy error in {mod}.rs")),
        r.choice(("CI runs `cargo clippy -- -D warnings` and it's red. Fix it.",
                  "clippy is failing in CI, can you clean it up?")),
        diagnose=_bash("cargo clippy --all-targets -- -D warnings", "Run clippy with warnings as errors", fail, 101),
        reads=[(f"src/{mod}.rs", src)],
        fixes=[("edit", f"src/{mod}.rs", "std::fs::read_to_string(&path)", "std::fs::read_to_string(path)")],
        verify=_bash("cargo clippy --all-targets -- -D warnings", "Run clippy with warnings as errors",
                     f"    Checking {ctx.name} v0.1.0 ({ctx.root})\n    Finished `dev` profile [unoptimized + "
                     f"debuginfo] target(s) in 0.{r.randint(40, 99)}s"),
        summary=f"Removed the needless `&` in `{fn}` (src/{mod}.rs): `path` is already a `&Path`. Clippy passes with "
                "`-D warnings`.")


def _rust_module(ctx: _Ctx) -> _Task:
    r = ctx.r
    name = r.choice(("stats", "histogram", "summary"))
    lib = "pub mod parser;\npub mod report;\n"
    content = _fill("""//! Simple statistics over a slice of samples.

pub fn mean(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    Some(samples.iter().sum::<f64>() / samples.len() as f64)
}

pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_count() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn mean_of_empty_is_none() {
        assert_eq!(mean(&[]), None);
    }
}
""")
    ok = _fill("""   Compiling «name» v0.1.0 («root»)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.77s
     Running unittests src/lib.rs (target/debug/deps/«crate»-«h»)

running 2 tests
test «mod»::tests::mean_of_empty_is_none ... ok
test «mod»::tests::median_of_even_count ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
""", name=ctx.name, root=ctx.root, crate=ctx.crate, h=ctx.b._hex(64), mod=name)
    return _Task(
        r.choice((f"Add {name} module with mean and median", f"Add {name}.rs with mean/median helpers")),
        f"Add a `{name}` module with `mean` and `median` over `&[f64]`, returning None for empty input. Add tests.",
        search=_glob(ctx, "src/**/*.rs", ["src/lib.rs", "src/parser.rs", "src/report.rs", "src/main.rs"]),
        reads=[("src/lib.rs", lib)],
        fixes=[("write", f"src/{name}.rs", content),
               ("edit", "src/lib.rs", "pub mod report;", f"pub mod report;\npub mod {name};")],
        verify=_bash("cargo test", "Run the test suite", ok),
        summary=f"Created src/{name}.rs with `mean` and `median` (both `Option<f64>`, `None` on empty input) plus "
                f"two unit tests, and registered the module in src/lib.rs. `cargo test` passes.",
        todos=[(f"Write src/{name}.rs", "high"), ("Register module in lib.rs", "medium"), ("Run cargo test", "medium")])


def _rust_tests(ctx):
    n = ctx.r.randint(6, 31)
    return _bash("cargo test", "Run the full test suite",
                 f"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.31s\n     Running unittests "
                 f"src/lib.rs (target/debug/deps/{ctx.crate}-{ctx.b._hex(64)})\n\nrunning {n} tests\n"
                 + "".join(f"test t{i} ... ok\n" for i in range(3)) + f"...\n\ntest result: ok. {n} passed; 0 failed; 0 "
                 "ignored; 0 measured; 0 filtered out; finished in 0.02s\n")


def _rust_lint(ctx):
    if ctx.r.random() < 0.5:
        return _bash("cargo fmt --check", "Check formatting", "")
    return _bash("cargo clippy --all-targets -- -D warnings", "Run clippy",
                 f"    Checking {ctx.name} v0.1.0 ({ctx.root})\n    Finished `dev` profile [unoptimized + debuginfo] "
                 "target(s) in 1.05s")


# -- TypeScript ------------------------------------------------------------------

def _ts_ts2345(ctx: _Ctx, env_read=None) -> _Task:
    r = ctx.r
    entity, route = r.choice((("Invoice", "invoices"), ("User", "users"), ("Project", "projects"), ("Order", "orders")))
    env = r.choice(("API_URL", "API_BASE_URL", "BACKEND_URL"))
    port = r.choice((3000, 8080, 4000))
    client = _fill("""import { request } from "./http";

export interface «E» {
  id: string;
  name: string;
  createdAt: string;
}

const baseUrl = process.env.«ENV»;

export async function fetch«E»(id: string): Promise<«E»> {
  const url = buildUrl(baseUrl, `/«route»/${id}`);
  return request<«E»>(url);
}

function buildUrl(base: string, path: string): string {
  return new URL(path, base).toString();
}
""", E=entity, ENV=env, route=route)
    ln, col = _line_of(client, "buildUrl(baseUrl"), _col_of(client, "baseUrl, `")
    ver = f"0.{r.randint(1, 9)}.{r.randint(0, 9)}"
    fail = (f"\n> {ctx.name}@{ver} typecheck\n> tsc --noEmit\n\nsrc/api/client.ts({ln},{col}): error TS2345: Argument "
            "of type 'string | undefined' is not assignable to parameter of type 'string'.\n  Type 'undefined' is "
            "not assignable to type 'string'.\n")
    extra = [env_read] if env_read else []
    return _Task(
        r.choice(("Fix TS2345 undefined base URL", f"Fix type error in fetch{entity}", "Fix typecheck error in api client")),
        r.choice(("npm run typecheck fails with error TS2345 in src/api/client.ts, fix it",
                  f"tsc complains that `string | undefined` isn't assignable to `string` in the {route} client. "
                  "Can you fix it properly?")),
        diagnose=_bash("npm run typecheck", "Run the TypeScript compiler", fail, 2),
        reads=[("src/api/client.ts", client)], extra_reads=extra,
        fixes=[("edit", "src/api/client.ts", f"const baseUrl = process.env.{env};",
                f"const baseUrl = process.env.{env} ?? \"http://localhost:{port}\";")],
        verify=_bash("npm run typecheck", "Run the TypeScript compiler", f"\n> {ctx.name}@{ver} typecheck\n> tsc --noEmit\n"),
        summary=f"`process.env.{env}` is `string | undefined`, so `buildUrl` rejected it. I added a fallback "
                f"(`?? \"http://localhost:{port}\"`) so `baseUrl` is always a string. Typecheck passes.",
        think=f"TS2345 at client.ts line {ln}: env var may be undefined. A default keeps buildUrl's signature.")


def _ts_vitest(ctx: _Ctx) -> _Task:
    r = ctx.r
    fn, body, cases = r.choice((
        ("formatBytes",
         "export function formatBytes(n: number): string {\n  if (n < 1024) return `${n} B`;\n  const units = [\"KB\", \"MB\", \"GB\"];\n  let i = -1;\n  do {\n    n /= 1024;\n    i++;\n  } while (n >= 1024 && i < units.length - 1);\n  return `${n.toFixed(1)} ${units[i]}`;\n}\n",
         [("formats bytes", "formatBytes(512)", '"512 B"'), ("formats kilobytes", "formatBytes(2048)", '"2.0 KB"'),
          ("formats megabytes", "formatBytes(5 * 1024 * 1024)", '"5.0 MB"')]),
        ("slugify",
         "export function slugify(s: string): string {\n  return s\n    .toLowerCase()\n    .trim()\n    .replace(/[^a-z0-9]+/g, \"-\")\n    .replace(/^-+|-+$/g, \"\");\n}\n",
         [("lowercases", 'slugify("Hello World")', '"hello-world"'), ("strips symbols", 'slugify("  C++ & Rust! ")', '"c-rust"'),
          ("handles empty", 'slugify("")', '""')]),
        ("truncate",
         "export function truncate(s: string, max: number): string {\n  if (s.length <= max) return s;\n  return s.slice(0, Math.max(0, max - 1)) + \"…\";\n}\n",
         [("keeps short strings", 'truncate("abc", 5)', '"abc"'), ("adds ellipsis", 'truncate("abcdef", 4)', '"abc…"'),
          ("handles zero", 'truncate("abc", 0)', '"…"')]),
    ))
    mod = r.choice(("format", "strings", "text"))
    test = f'import {{ describe, expect, it }} from "vitest";\nimport {{ {fn} }} from "./{mod}";\n\ndescribe("{fn}", () => {{\n'
    test += "".join(f'  it("{name}", () => {{\n    expect({call}).toBe({want});\n  }});\n\n' for name, call, want in cases)
    test = test.rstrip("\n") + "\n});\n"
    out = (f"\n RUN  v2.1.{r.randint(1, 9)} {ctx.root}\n\n ✓ src/utils/{mod}.test.ts ({len(cases)} tests) "
           f"{r.randint(2, 9)}ms\n\n Test Files  1 passed (1)\n      Tests  {len(cases)} passed ({len(cases)})\n"
           f"   Start at  1{r.randint(0, 9)}:{r.randint(10, 59)}:{r.randint(10, 59)}\n   Duration  {r.randint(300, 900)}ms")
    return _Task(
        r.choice((f"Add vitest tests for {fn}", f"Write unit tests for {fn}")), r.choice((f"add vitest unit tests for {fn} in src/utils/{mod}.ts",
                                                f"Can you write tests for `{fn}`? We use vitest.")),
        search=_glob(ctx, "**/*.test.ts", ["src/api/client.test.ts"]),
        reads=[(f"src/utils/{mod}.ts", body)],
        fixes=[("write", f"src/utils/{mod}.test.ts", test)],
        verify=_bash(f"npx vitest run src/utils/{mod}.test.ts", "Run the new tests", out),
        summary=f"Added src/utils/{mod}.test.ts with {len(cases)} cases for `{fn}`; all pass under vitest.",
        todos=[(f"Write tests for {fn}", "high"), ("Run vitest", "medium")])


def _ts_build(ctx: _Ctx) -> _Task:
    r = ctx.r
    comp, dep = r.choice((("UserCard", "Avatar"), ("InvoiceRow", "Money"), ("Header", "Logo"), ("Sidebar", "NavLink")))
    src = _fill("""import React from "react";
import { «dep» } from "./«dep»";

type Props = { name: string; imageUrl?: string };

export function «comp»({ name, imageUrl }: Props) {
  return (
    <div className="«lower»">
      <«dep» src={imageUrl} alt={name} />
      <span>{name}</span>
    </div>
  );
}
""", comp=comp, dep=dep, lower=comp.lower())
    ln, col = _line_of(src, f'from "./{dep}"'), _col_of(src, f'"./{dep}"')
    ver = f"1.{r.randint(0, 4)}.{r.randint(0, 9)}"
    fail = (f"\n> {ctx.name}@{ver} build\n> tsc -p tsconfig.json && vite build\n\nsrc/components/{comp}.tsx:{ln}:{col} - "
            f"error TS2307: Cannot find module './{dep}' or its corresponding type declarations.\n\n{ln} import {{ {dep} }} "
            f"from \"./{dep}\";\n{' ' * len(str(ln))} {' ' * (col - 1)}{'~' * (len(dep) + 4)}\n\n\nFound 1 error in "
            f"src/components/{comp}.tsx:{ln}\n")
    ok = (f"\n> {ctx.name}@{ver} build\n> tsc -p tsconfig.json && vite build\n\nvite v5.4.{r.randint(1, 11)} building for "
          f"production...\n✓ {r.randint(40, 300)} modules transformed.\ndist/index.html                   0.46 kB │ gzip:  "
          f"0.30 kB\ndist/assets/index-{ctx.b._hex(32)}.css    {r.randint(2, 30)}.{r.randint(10, 99)} kB │ gzip:  "
          f"{r.randint(1, 9)}.{r.randint(10, 99)} kB\ndist/assets/index-{ctx.b._hex(32)}.js   {r.randint(140, 400)}."
          f"{r.randint(10, 99)} kB │ gzip: {r.randint(40, 120)}.{r.randint(10, 99)} kB\n✓ built in {r.randint(1, 4)}."
          f"{r.randint(10, 99)}s")
    return _Task(
        r.choice(("Fix npm run build module not found", f"Fix TS2307 import of {dep}",
                  f"Fix broken {dep} import after move")), r.choice(("npm run build fails after I moved some components around",
                                                        f"fix the build, something about `./{dep}` not found")),
        diagnose=_bash("npm run build", "Build the project", fail, 2),
        search=_glob(ctx, f"src/components/**/{dep}*", [f"src/components/ui/{dep}.tsx"]),
        reads=[(f"src/components/{comp}.tsx", src)],
        fixes=[("edit", f"src/components/{comp}.tsx", f'import {{ {dep} }} from "./{dep}";',
                f'import {{ {dep} }} from "./ui/{dep}";')],
        verify=_bash("npm run build", "Build the project", ok),
        summary=f"`{dep}` now lives in src/components/ui/, so I updated the import in {comp}.tsx to "
                f"`./ui/{dep}`. `npm run build` succeeds.")


def _ts_eslint(ctx: _Ctx) -> _Task:
    r = ctx.r
    fn, var = r.choice((("syncAccounts", "response"), ("refreshToken", "result"), ("loadSettings", "data")))
    mod = r.choice(("sync", "auth", "settings"))
    src = _fill("""import { api } from "../api/http";

export async function «fn»(userId: string): Promise<void> {
  const «var» = await api.post(`/users/${userId}/«mod»`);
  await api.post(`/audit`, { userId, action: "«mod»" });
}
""", fn=fn, var=var, mod=mod)
    ln, col = _line_of(src, f"const {var}"), _col_of(src, var)
    fail = (f"\n{ctx.root}/src/services/{mod}.ts\n  {ln}:{col}  error  '{var}' is assigned a value but never used  "
            "@typescript-eslint/no-unused-vars\n\n✖ 1 problem (1 error, 0 warnings)\n")
    return _Task(
        r.choice(("Fix eslint no-unused-vars error", f"Fix lint error in {mod}.ts")), r.choice(("lint is failing, fix it", "`npx eslint src` reports an error, please fix")),
        diagnose=_bash("npx eslint src", "Lint the sources", fail, 1),
        reads=[(f"src/services/{mod}.ts", src)],
        fixes=[("edit", f"src/services/{mod}.ts", f"  const {var} = await api.post(", "  await api.post(")],
        verify=_bash("npx eslint src", "Lint the sources", ""),
        summary=f"Dropped the unused `{var}` binding in `{fn}` (src/services/{mod}.ts); the call is still awaited. "
                "ESLint reports no problems.")


def _ts_tests(ctx):
    r = ctx.r
    n = r.randint(3, 12)
    return _bash("npm test", "Run the test suite",
                 f"\n> {ctx.name}@0.4.0 test\n> vitest run\n\n RUN  v2.1.4 {ctx.root}\n\n ✓ src/utils/format.test.ts (4 tests) 3ms"
                 f"\n ✓ src/api/client.test.ts (5 tests) 12ms\n\n Test Files  {n} passed ({n})\n      Tests  "
                 f"{n * 4} passed ({n * 4})\n   Duration  {r.randint(500, 2000)}ms")


def _ts_lint(ctx):
    if ctx.r.random() < 0.5:
        return _bash("npx prettier --check src", "Check formatting",
                     "Checking formatting...\nAll matched files use Prettier code style!")
    return _bash("npx eslint src && npx tsc --noEmit", "Lint and typecheck", "")


def _ts_task_parent(ctx: _Ctx, make_child, extra_reads=()) -> str:
    """TypeScript session whose first step delegates a search to an explore subagent."""
    r = ctx.r
    var = r.choice(("REQUEST_TIMEOUT_MS", "HTTP_TIMEOUT_MS"))
    config = _fill("""export const config = {
  baseUrl: process.env.API_URL ?? "http://localhost:3000",
  timeoutMs: 5000,
  retries: 2,
};
""")
    title = "Make request timeout configurable"
    prompt = f"Requests time out after 5s in production. Make the timeout configurable via {var}, default 5000."
    uid = ctx.b.user_message(ctx.sid, prompt, agent="build")
    child_id, child_result, t_step, t_start = make_child(uid)
    task_spec = {"tool": "task", "start": t_start, "end": ctx.b._now + 250,
                 "input": {"description": "Find API config locations",
                           "prompt": "Find where the API base URL and request timeout are configured in this repo. "
                                     "Report file paths and line numbers.",
                           "subagent_type": "explore"},
                 "output": f"task_id: {child_id} (for resuming to continue this task if needed)\n\n<task_result>\n"
                           f"{child_result}\n</task_result>",
                 "metadata": {"sessionId": child_id, "model": {"modelID": DEFAULT_MODEL[1],
                                                               "providerID": DEFAULT_MODEL[0]}}}
    b = ctx.b
    b.assistant_step(ctx.sid, uid, text="I'll have an explore agent find where the timeout is configured.",
                     tools=[task_spec], time=t_step)
    b.assistant_step(ctx.sid, uid, tools=[_read(ctx, "src/config.ts", config), *extra_reads])
    b.assistant_step(ctx.sid, uid, text="Reading the value from the environment with a numeric fallback.",
                     tools=_fix_tools(ctx, [("edit", "src/config.ts", "  timeoutMs: 5000,",
                                             f"  timeoutMs: Number(process.env.{var} ?? 5000),")]))
    b.assistant_step(ctx.sid, uid, tools=[_bash("npm run typecheck && npm test", "Typecheck and run tests",
                                                f"\n> {ctx.name}@0.4.0 typecheck\n> tsc --noEmit\n\n\n> {ctx.name}@0.4.0 "
                                                "test\n> vitest run\n\n ✓ src/api/client.test.ts (5 tests) 11ms\n\n Test "
                                                "Files  1 passed (1)\n      Tests  5 passed (5)")])
    b.assistant_step(ctx.sid, uid, text=f"`timeoutMs` in src/config.ts now reads `{var}` (default 5000). "
                                        "Typecheck and tests pass.", finish="stop")
    return title


# -- Python ----------------------------------------------------------------------

def _py_keyerror(ctx: _Ctx) -> _Task:
    r = ctx.r
    pkg = ctx.crate
    field = r.choice(("total", "amount", "price"))
    core = _fill("""from dataclasses import dataclass


@dataclass
class Row:
    id: int
    qty: int
    «field»: float


def parse_row(raw: dict) -> Row:
    \"\"\"Convert one CSV record into a Row.\"\"\"
    «field» = float(raw["«field»"])
    return Row(id=int(raw["id"]), qty=int(raw["qty"]), «field»=«field»)
""", field=field)
    ln = _line_of(core, f'float(raw["{field}"])')
    trace = _fill("""Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "<frozen runpy>", line 88, in _run_code
  File "«root»/src/«pkg»/cli.py", line 31, in <module>
    main()
  File "«root»/src/«pkg»/cli.py", line 26, in main
    rows = [parse_row(r) for r in reader]
            ^^^^^^^^^^^^
  File "«root»/src/«pkg»/core.py", line «ln», in parse_row
    «field» = float(raw["«field»"])
              «tilde»
KeyError: '«field»'""", root=ctx.root, pkg=pkg, ln=ln, field=field, tilde="~~~^" + "^" * (len(field) + 4))
    n = r.randint(4, 15)
    return _Task(
        f"Fix KeyError '{field}' in parse_row",
        r.choice((f"Running `python -m {pkg}.cli data/sample.csv` crashes with KeyError: '{field}'. Some rows don't have "
                  f"that column; treat it as 0.",
                  f"the importer blows up on rows without a {field} column, fix please (default to 0)")),
        diagnose=_bash(f"python -m {pkg}.cli data/sample.csv", "Reproduce the crash", trace, 1),
        reads=[(f"src/{pkg}/core.py", core)],
        fixes=[("edit", f"src/{pkg}/core.py", f'    {field} = float(raw["{field}"])',
                f'    {field} = float(raw.get("{field}") or 0)')],
        verify=_bash("python -m pytest -q", "Run the tests", "." * n + f"{' ' * (72 - n)} [100%]\n{n} passed in 0.{r.randint(10, 90)}s"),
        summary=f"`parse_row` indexed `raw[\"{field}\"]` directly, so rows without that column raised KeyError. It now "
                f"uses `raw.get(\"{field}\") or 0`, which also covers empty cells. Tests pass.",
        think=f"Traceback ends in core.py line {ln}: raw['{field}'] missing. Use .get with a default.",
        todos=[("Reproduce the KeyError", "high"), (f"Default missing {field} to 0", "high"), ("Run pytest", "medium")])


def _py_assert(ctx: _Ctx) -> _Task:
    r = ctx.r
    pkg = ctx.crate
    fn, inp, want, got, old, new = r.choice((
        ("normalize_email", "'  Bob@Example.COM '", "'bob@example.com'", "'bob@example.com '",
         "    return value.lower()", "    return value.strip().lower()"),
        ("slugify", "'Hello, World'", "'hello-world'", "'hello,-world'",
         "    return value.lower().replace(' ', '-')",
         "    return re.sub(r'[^a-z0-9]+', '-', value.lower()).strip('-')"),
        ("parse_duration", "'1h30m'", "5400", "3600",
         "    return sum(int(n) * UNITS[u] for n, u in re.findall(r'(\\d+)([hms])', value)[:1])",
         "    return sum(int(n) * UNITS[u] for n, u in re.findall(r'(\\d+)([hms])', value))"),
    ))
    src = f"import re\n\nUNITS = {{'h': 3600, 'm': 60, 's': 1}}\n\n\ndef {fn}(value: str):\n{old}\n"
    fail = _fill("""..F.                                                                     [100%]
=================================== FAILURES ===================================
___________________________ test_«fn»_handles_edge ____________________________

    def test_«fn»_handles_edge():
>       assert «fn»(«inp») == «want»
E       AssertionError: assert «got» == «want»
E        +  where «got» = «fn»(«inp»)

tests/test_text.py:14: AssertionError
=========================== short test summary info ============================
FAILED tests/test_text.py::test_«fn»_handles_edge - AssertionError: assert «got» == «want»
1 failed, 3 passed in 0.«ms»s""", fn=fn, inp=inp, want=want, got=got, ms=r.randint(10, 90))
    return _Task(
        r.choice((f"Fix failing test for {fn}", f"Fix {fn} edge case")), r.choice(("pytest has one failure, please fix the code", f"fix test_{fn}_handles_edge")),
        diagnose=_bash("python -m pytest -q", "Run the tests", fail, 1),
        search=_grep(ctx, f"def {fn}", [(f"src/{pkg}/text.py", 6, f"def {fn}(value: str):")], include="*.py"),
        reads=[(f"src/{pkg}/text.py", src)],
        fixes=[("edit", f"src/{pkg}/text.py", old, new)],
        verify=_bash("python -m pytest -q", "Run the tests", "....                                                                     [100%]\n4 passed in 0.05s"),
        summary=f"Fixed `{fn}` in src/{pkg}/text.py so `{fn}({inp})` returns {want}. All 4 tests pass.")


def _py_feature(ctx: _Ctx) -> _Task:
    r = ctx.r
    pkg = ctx.crate
    fn, code, tests = r.choice((
        ("chunked",
         "\n\ndef chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:\n    \"\"\"Yield lists of at most `size` items.\"\"\"\n    if size < 1:\n        raise ValueError(\"size must be >= 1\")\n    batch: list[T] = []\n    for item in items:\n        batch.append(item)\n        if len(batch) == size:\n            yield batch\n            batch = []\n    if batch:\n        yield batch\n",
         "def test_chunked_splits_evenly():\n    assert list(chunked(range(4), 2)) == [[0, 1], [2, 3]]\n\n\ndef test_chunked_keeps_remainder():\n    assert list(chunked(\"abcde\", 2)) == [[\"a\", \"b\"], [\"c\", \"d\"], [\"e\"]]\n\n\ndef test_chunked_rejects_zero():\n    with pytest.raises(ValueError):\n        list(chunked([1], 0))\n"),
        ("dedupe",
         "\n\ndef dedupe(items: Iterable[T]) -> list[T]:\n    \"\"\"Drop repeated items, keeping first occurrences in order.\"\"\"\n    seen: set[T] = set()\n    out: list[T] = []\n    for item in items:\n        if item not in seen:\n            seen.add(item)\n            out.append(item)\n    return out\n",
         "def test_dedupe_keeps_order():\n    assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]\n\n\ndef test_dedupe_empty():\n    assert dedupe([]) == []\n"),
    ))
    utils = "from typing import Iterable, Iterator, TypeVar\n\nT = TypeVar(\"T\")\n\n\ndef first(items: Iterable[T]) -> T | None:\n    return next(iter(items), None)\n"
    test_file = f"import pytest\n\nfrom {pkg}.utils import {fn}\n\n\n{tests}"
    n = tests.count("def test_")
    return _Task(
        r.choice((f"Add {fn} helper to utils", f"Implement {fn} utility with tests")), f"add a `{fn}` helper to src/{pkg}/utils.py with tests",
        reads=[(f"src/{pkg}/utils.py", utils)],
        fixes=[("edit", f"src/{pkg}/utils.py", "    return next(iter(items), None)",
                "    return next(iter(items), None)" + code.rstrip("\n")),
               ("write", f"tests/test_utils.py", test_file)],
        verify=_bash("python -m pytest -q tests/test_utils.py", "Run the new tests",
                     "." * n + " " * (72 - n) + f" [100%]\n{n} passed in 0.0{r.randint(1, 9)}s"),
        summary=f"Added `{fn}` to src/{pkg}/utils.py and tests/test_utils.py with {n} tests; they pass.",
        todos=[(f"Implement {fn}", "high"), ("Write tests", "medium")])


def _py_ruff(ctx: _Ctx) -> _Task:
    r = ctx.r
    pkg = ctx.crate
    mod = r.choice(("io", "loader", "export"))
    src = "import json\nimport os\nfrom pathlib import Path\n\n\ndef load(path: Path) -> dict:\n    with path.open() as fh:\n        return json.load(fh)\n"
    fail = (f"src/{pkg}/{mod}.py:2:8: F401 [*] `os` imported but unused\n  |\n1 | import json\n2 | import os\n  |        ^^ F401\n"
            "3 | from pathlib import Path\n  |\n  = help: Remove unused import: `os`\n\nFound 1 error.\n[*] 1 fixable with the "
            "`--fix` option.")
    return _Task(
        r.choice(("Fix ruff F401 unused import", f"Clean up ruff error in {mod}.py")), r.choice(("ruff check fails, fix it", "CI lint step (ruff) is red")),
        diagnose=_bash("ruff check .", "Lint with ruff", fail, 1), reads=[(f"src/{pkg}/{mod}.py", src)],
        fixes=[("edit", f"src/{pkg}/{mod}.py", "import json\nimport os\n", "import json\n")],
        verify=_bash("ruff check . && ruff format --check .", "Lint and check formatting",
                     f"All checks passed!\n{r.randint(8, 30)} files already formatted"),
        summary=f"Removed the unused `import os` from src/{pkg}/{mod}.py. `ruff check` and `ruff format --check` pass.")


def _py_tests(ctx):
    n = ctx.r.randint(8, 40)
    return _bash("python -m pytest -q", "Run the full test suite",
                 "." * n + " " * max(1, 72 - n) + f" [100%]\n{n} passed in {ctx.r.randint(0, 3)}.{ctx.r.randint(10, 99)}s")


def _py_lint(ctx):
    return _bash("ruff check . && ruff format --check .", "Lint and check formatting",
                 f"All checks passed!\n{ctx.r.randint(8, 30)} files already formatted")


# -- Ruby ------------------------------------------------------------------------

def _rb_nomethod(ctx: _Ctx) -> _Task:
    r = ctx.r
    model, assoc, meth = r.choice((("Order", "customer", "full_name"), ("Invoice", "account", "display_name"),
                                   ("Comment", "author", "handle")))
    fn = f"{assoc}_name"
    src = _fill("""class «M» < ApplicationRecord
  belongs_to :«assoc», optional: true
  has_many :line_items, dependent: :destroy

  validates :number, presence: true

  def total
    line_items.sum(&:amount)
  end

  def «fn»
    «assoc».«meth»
  end
end
""", M=model, assoc=assoc, meth=meth, fn=fn)
    ln = _line_of(src, f"    {assoc}.{meth}")
    low = model.lower()
    fail = _fill("""
Randomized with seed «seed»
F..

Failures:

  1) «M»#«fn» returns a placeholder when there is no «assoc»
     Failure/Error: «assoc».«meth»

     NoMethodError:
       undefined method `«meth»' for nil:NilClass
     # ./app/models/«low».rb:«ln»:in `«fn»'
     # ./spec/models/«low»_spec.rb:18:in `block (3 levels) in <top (required)>'

Finished in 0.0«ms» seconds (files took 1.«load» seconds to load)
3 examples, 1 failure

Failed examples:

rspec ./spec/models/«low»_spec.rb:16 # «M»#«fn» returns a placeholder when there is no «assoc»
""", M=model, fn=fn, assoc=assoc, meth=meth, low=low, ln=ln, seed=r.randint(1000, 65000), ms=r.randint(1000, 9999),
                 load=r.randint(10, 99))
    return _Task(
        f"Fix NoMethodError in {model}#{fn}",
        r.choice((f"`{model}#{fn}` raises NoMethodError when there's no {assoc}. It should return \"Guest\".",
                  f"rspec spec/models/{low}_spec.rb fails with undefined method `{meth}' for nil, fix it")),
        diagnose=_bash(f"bundle exec rspec spec/models/{low}_spec.rb", "Run the model spec", fail, 1),
        reads=[(f"app/models/{low}.rb", src)],
        fixes=[("edit", f"app/models/{low}.rb", f"    {assoc}.{meth}", f"    {assoc}&.{meth} || \"Guest\"")],
        verify=_bash(f"bundle exec rspec spec/models/{low}_spec.rb", "Run the model spec",
                     f"\nRandomized with seed {r.randint(1000, 65000)}\n...\n\nFinished in 0.0{r.randint(1000, 9999)} "
                     "seconds (files took 1.2 seconds to load)\n3 examples, 0 failures\n"),
        summary=f"`{model}#{fn}` called `{meth}` on a nil `{assoc}`. It now uses the safe navigation operator and "
                f"falls back to \"Guest\". The spec passes.",
        think=f"NoMethodError for nil:NilClass at {low}.rb:{ln}; the association is optional.",
        todos=[("Reproduce failing spec", "high"), (f"Handle nil {assoc}", "high")])


def _rb_expect(ctx: _Ctx) -> _Task:
    r = ctx.r
    gem = ctx.crate
    cls = "".join(w.capitalize() for w in gem.split("_"))
    src = _fill("""module «C»
  module Slug
    module_function

    def call(text)
      text.downcase.strip.gsub(/\\s+/, "-")
    end
  end
end
""", C=cls)
    fail = _fill("""
«C»::Slug
  .call
    lowercases words (FAILED - 1)
    collapses whitespace

Failures:

  1) «C»::Slug.call lowercases words
     Failure/Error: expect(described_class.call("Hello, World!")).to eq("hello-world")

       expected: "hello-world"
            got: "hello,-world!"

       (compared using ==)
     # ./spec/«gem»/slug_spec.rb:7:in `block (3 levels) in <top (required)>'

Finished in 0.01«ms» seconds (files took 0.2 seconds to load)
2 examples, 1 failure

Failed examples:

rspec ./spec/«gem»/slug_spec.rb:6 # «C»::Slug.call lowercases words
""", C=cls, gem=gem, ms=r.randint(100, 999))
    return _Task(
        r.choice(("Fix slug spec stripping punctuation", "Make Slug.call drop punctuation")), r.choice(("bundle exec rspec fails on the slug spec, fix the implementation",
                                                        "Slug.call should strip punctuation, the spec is failing")),
        diagnose=_bash("bundle exec rspec", "Run the specs", fail, 1),
        search=_grep(ctx, "module Slug", [(f"lib/{gem}/slug.rb", 2, "  module Slug")], include="*.rb"),
        reads=[(f"lib/{gem}/slug.rb", src)],
        fixes=[("edit", f"lib/{gem}/slug.rb", '      text.downcase.strip.gsub(/\\s+/, "-")',
                '      text.downcase.gsub(/[^a-z0-9]+/, "-").gsub(/\\A-+|-+\\z/, "")')],
        verify=_bash("bundle exec rspec", "Run the specs",
                     f"\n{cls}::Slug\n  .call\n    lowercases words\n    collapses whitespace\n\nFinished in 0.00{r.randint(100, 999)} "
                     "seconds (files took 0.2 seconds to load)\n2 examples, 0 failures\n"),
        summary=f"`{cls}::Slug.call` now replaces every run of non-alphanumerics with a dash and trims leading/trailing "
                "dashes, so punctuation is dropped. Both examples pass.")


def _rb_rake(ctx: _Ctx) -> _Task:
    r = ctx.r
    gem = ctx.crate
    src = _fill("""# frozen_string_literal: true

module «C»
  class Config
    DEFAULTS = { "timeout" => 5, "retries" => 3 }.freeze

    def initialize(overrides = {})
      @values = DEFAULTS.merge(overrides)
    end

    def [](key)
      @values.fetch(key.to_s)
    end
  end
end
""", C="".join(w.capitalize() for w in gem.split("_")))
    ln = _line_of(src, "DEFAULTS =")
    fail = (f"Running RuboCop...\nInspecting {r.randint(10, 30)} files\n....C.......\n\nOffenses:\n\nlib/{gem}/config.rb:{ln}:"
            "20: C: [Correctable] Style/StringLiterals: Prefer single-quoted strings when you don't need string "
            "interpolation or special symbols.\n    DEFAULTS = { \"timeout\" => 5, \"retries\" => 3 }.freeze\n"
            "                   ^^^^^^^^^\n\n12 files inspected, 1 offense detected, 1 offense autocorrectable\n"
            "RuboCop failed!")
    return _Task(
        r.choice(("Fix rubocop offense failing rake", f"Fix StringLiterals offense in {gem} config")), r.choice(("`bundle exec rake` fails (rubocop), please fix",
                                                     "the default rake task is red because of rubocop")),
        diagnose=_bash("bundle exec rake", "Run the default rake task", fail, 1),
        reads=[(f"lib/{gem}/config.rb", src)],
        fixes=[("edit", f"lib/{gem}/config.rb", '    DEFAULTS = { "timeout" => 5, "retries" => 3 }.freeze',
                "    DEFAULTS = { 'timeout' => 5, 'retries' => 3 }.freeze")],
        verify=_bash("bundle exec rake", "Run the default rake task",
                     f"Running RuboCop...\nInspecting 12 files\n............\n\n12 files inspected, no offenses detected\n"
                     f"\nRandomized with seed {r.randint(1000, 65000)}\n..............\n\nFinished in 0.0{r.randint(100, 999)} "
                     "seconds (files took 0.3 seconds to load)\n14 examples, 0 failures\n"),
        summary=f"Switched the DEFAULTS keys in lib/{gem}/config.rb to single quotes (Style/StringLiterals). "
                "`bundle exec rake` (rubocop + specs) is green.")


def _rb_feature(ctx: _Ctx) -> _Task:
    r = ctx.r
    meth = r.choice(("overdue?", "paid?", "archived?"))
    model = r.choice(("Invoice", "Subscription"))
    low = model.lower()
    src = _fill("""class «M» < ApplicationRecord
  enum :status, { draft: 0, sent: 1, paid: 2, void: 3 }

  scope :recent, -> { where(created_at: 30.days.ago..) }
end
""", M=model)
    body = {"overdue?": "sent? && due_on.present? && due_on < Date.current",
            "paid?": "status == \"paid\" && paid_at.present?",
            "archived?": "void? || (paid? && updated_at < 1.year.ago)"}[meth]
    spec = _fill("""require "rails_helper"

RSpec.describe «M», type: :model do
  describe "#«meth»" do
    it "is false for a draft" do
      expect(build(:«low», status: :draft).«meth»).to be(false)
    end
  end
end
""", M=model, meth=meth, low=low)
    return _Task(
        r.choice((f"Add {model}#{meth}", f"Add {meth} predicate to {model}")), f"Add a `{meth}` predicate to {model} with a spec.",
        reads=[(f"app/models/{low}.rb", src)],
        fixes=[("edit", f"app/models/{low}.rb", "  scope :recent, -> { where(created_at: 30.days.ago..) }\nend",
                f"  scope :recent, -> {{ where(created_at: 30.days.ago..) }}\n\n  def {meth}\n    {body}\n  end\nend"),
               ("write", f"spec/models/{low}_{meth.rstrip('?')}_spec.rb", spec)],
        verify=_bash(f"bundle exec rspec spec/models/{low}_{meth.rstrip('?')}_spec.rb", "Run the new spec",
                     f"\nRandomized with seed {r.randint(1000, 65000)}\n.\n\nFinished in 0.0{r.randint(100, 999)} seconds "
                     "(files took 1.4 seconds to load)\n1 example, 0 failures\n"),
        summary=f"Added `{model}#{meth}` and a model spec for it; the spec passes.")


def _rb_tests(ctx):
    n = ctx.r.randint(10, 80)
    return _bash("bundle exec rspec", "Run the full spec suite",
                 f"\nRandomized with seed {ctx.r.randint(1000, 65000)}\n" + "." * n + f"\n\nFinished in 0.{ctx.r.randint(10, 99)} "
                 f"seconds (files took 1.3 seconds to load)\n{n} examples, 0 failures\n")


def _rb_lint(ctx):
    return _bash("bundle exec rubocop", "Run RuboCop",
                 "Inspecting 31 files\n...............................\n\n31 files inspected, no offenses detected")


# -- Swift -----------------------------------------------------------------------

def _swift_base(ctx: _Ctx) -> str:
    # Module prefix: "todo-core" -> "Todo", so the library target reads TodoCore, not TodoCoreCore.
    base = ctx.name.replace("-", " ").title().replace(" ", "")
    return base[:-4] if base.endswith("Core") and len(base) > 4 else base


def _swift_scope(ctx: _Ctx) -> _Task:
    r = ctx.r
    target = _swift_base(ctx)
    old_fn, new_fn = r.choice((("fetchForecast", "forecast"), ("loadTodos", "todos"), ("resizeImage", "resized")))
    main = _fill("""import Foundation
import «T»Core

let arguments = CommandLine.arguments.dropFirst()
guard let input = arguments.first else {
    print("usage: «name» <input>")
    exit(1)
}

let client = Client()
do {
    «old»(for: input)
    print("done")
} catch {
    print("error: \\(error)")
    exit(2)
}
""", T=target, name=ctx.name, old=old_fn)
    ln, col = _line_of(main, f"{old_fn}(for:"), _col_of(main, old_fn)
    fail = _fill("""Building for debugging...
«root»/Sources/App/main.swift:«ln»:«col»: error: cannot find '«old»' in scope
    «old»(for: input)
    ^~~~~~~~~~~~«tilde»
error: emit-module command failed with exit code 1 (use -v to see invocation)
[«a»/«b»] Compiling App main.swift""", root=ctx.root, ln=ln, col=col, old=old_fn, tilde="~" * max(0, len(old_fn) - 13),
                 a=r.randint(3, 9), b=r.randint(10, 20))
    new_call = f"    let result = try client.{new_fn}(for: input)\n    print(result)"
    return _Task(
        r.choice(("Fix swift build: cannot find in scope", f"Fix cannot find '{old_fn}' in scope",
                  f"Update main.swift to call Client.{new_fn}")),
        r.choice((f"swift build fails with `cannot find '{old_fn}' in scope` after I moved it into Client",
                  "fix the swift build error in Sources/App/main.swift")),
        diagnose=_bash("swift build", "Build the package", fail, 1),
        search=_grep(ctx, f"func {new_fn}", [(f"Sources/{target}Core/Client.swift", 14,
                                              f"    public func {new_fn}(for input: String) throws -> String {{")],
                     include="*.swift"),
        reads=[("Sources/App/main.swift", main)],
        fixes=[("edit", "Sources/App/main.swift", f"    {old_fn}(for: input)\n    print(\"done\")", new_call)],
        verify=_bash("swift build", "Build the package",
                     f"Building for debugging...\n[{r.randint(3, 9)}/{r.randint(10, 20)}] Compiling App main.swift\n"
                     f"Build complete! ({r.randint(1, 9)}.{r.randint(10, 99)}s)"),
        summary=f"`{old_fn}` became `Client.{new_fn}(for:)`, which also throws. main.swift now calls "
                f"`try client.{new_fn}(for: input)` inside the existing do/catch. `swift build` succeeds.",
        think=f"main.swift:{ln}:{col} still calls the old free function; the method lives on Client now.")


def _swift_test(ctx: _Ctx) -> _Task:
    r = ctx.r
    target = _swift_base(ctx)
    src = _fill("""public struct TodoStore {
    public private(set) var items: [Todo] = []

    public init() {}

    public mutating func add(_ title: String) {
        items.append(Todo(title: title))
    }

    public mutating func toggle(at index: Int) {
        items[index].isDone = items[index].isDone
    }
}
""")
    ln = r.randint(20, 40)
    fail = _fill("""Building for debugging...
Build complete! (3.«ms»s)
Test Suite 'All tests' started at 2026-05-0«d» 1«h»:«m»:0«s».112.
Test Suite '«T»CoreTests' started.
Test Case '-[«T»CoreTests.TodoStoreTests testAdd]' started.
Test Case '-[«T»CoreTests.TodoStoreTests testAdd]' passed (0.001 seconds).
Test Case '-[«T»CoreTests.TodoStoreTests testToggle]' started.
«root»/Tests/«T»CoreTests/TodoStoreTests.swift:«ln»: error: -[«T»CoreTests.TodoStoreTests testToggle] : XCTAssertEqual failed: ("false") is not equal to ("true")
Test Case '-[«T»CoreTests.TodoStoreTests testToggle]' failed (0.002 seconds).
Test Suite '«T»CoreTests' failed at 2026-05-0«d» 1«h»:«m»:0«s».118.
	 Executed 2 tests, with 1 failure (0 unexpected) in 0.003 (0.004) seconds
error: fatalError""", T=target, root=ctx.root, ln=ln, ms=r.randint(10, 99), d=r.randint(1, 9), h=r.randint(0, 9),
                 m=r.randint(10, 59), s=r.randint(0, 9))
    return _Task(
        r.choice(("Fix failing TodoStore toggle test", "Fix testToggle failure in TodoStore")), r.choice(("swift test fails on testToggle", "testToggle is failing, fix the store")),
        diagnose=_bash("swift test", "Run the tests", fail, 1),
        reads=[(f"Sources/{target}Core/TodoStore.swift", src)],
        fixes=[("edit", f"Sources/{target}Core/TodoStore.swift", "        items[index].isDone = items[index].isDone",
                "        items[index].isDone.toggle()")],
        verify=_bash("swift test", "Run the tests",
                     f"Building for debugging...\nBuild complete! (2.{r.randint(10, 99)}s)\nTest Suite 'All tests' passed.\n"
                     "\t Executed 2 tests, with 0 failures (0 unexpected) in 0.002 (0.003) seconds"),
        summary="`toggle(at:)` assigned `isDone` to itself. It now calls `isDone.toggle()`; both tests pass.")


def _swift_model(ctx: _Ctx) -> _Task:
    r = ctx.r
    target = _swift_base(ctx)
    model, fields = r.choice((("Forecast", [("city", "String"), ("temperature", "Double"), ("summary", "String")]),
                              ("Todo", [("id", "UUID"), ("title", "String"), ("isDone", "Bool")]),
                              ("ImageSpec", [("width", "Int"), ("height", "Int"), ("format", "String")])))
    content = "import Foundation\n\npublic struct " + model + ": Codable, Equatable {\n" + "".join(
        f"    public var {n}: {t}\n" for n, t in fields) + "}\n"
    return _Task(
        r.choice((f"Add Codable {model} model", f"Add {model} struct to {target}Core")), f"Add a Codable `{model}` struct in {target}Core with fields "
                                      + ", ".join(n for n, _ in fields) + ".",
        search=_glob(ctx, "Sources/**/*.swift", ["Sources/App/main.swift", f"Sources/{target}Core/Client.swift"]),
        reads=[("Package.swift", _fill("""// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "«name»",
    platforms: [.macOS(.v13)],
    targets: [
        .target(name: "«T»Core"),
        .executableTarget(name: "App", dependencies: ["«T»Core"]),
        .testTarget(name: "«T»CoreTests", dependencies: ["«T»Core"]),
    ]
)
""", name=ctx.name, T=target))],
        fixes=[("write", f"Sources/{target}Core/{model}.swift", content)],
        verify=_bash("swift build", "Build the package",
                     f"Building for debugging...\n[{r.randint(3, 9)}/{r.randint(10, 20)}] Compiling {target}Core "
                     f"{model}.swift\nBuild complete! ({r.randint(1, 9)}.{r.randint(10, 99)}s)"),
        summary=f"Added Sources/{target}Core/{model}.swift: a public `Codable, Equatable` struct. The package builds.")


def _swift_missing_arg(ctx: _Ctx) -> _Task:
    r = ctx.r
    target = _swift_base(ctx)
    param, default = r.choice((("timeout", "30"), ("retries", "3"), ("cachePolicy", ".useProtocolCachePolicy")))
    ty = {"timeout": "TimeInterval", "retries": "Int", "cachePolicy": "URLRequest.CachePolicy"}[param]
    client = _fill("""import Foundation

public final class Client {
    let session: URLSession
    let «param»: «ty»

    public init(session: URLSession = .shared, «param»: «ty») {
        self.session = session
        self.«param» = «param»
    }
}
""", param=param, ty=ty)
    main = _fill("""import Foundation
import «T»Core

let client = Client()
let input = CommandLine.arguments.dropFirst().first ?? "."
print("using \\(input)")
""", T=target)
    ln, col = _line_of(main, "Client()"), _col_of(main, "Client()")
    fail = (f"Building for debugging...\n{ctx.root}/Sources/App/main.swift:{ln}:{col + 6}: error: missing argument for "
            f"parameter '{param}' in call\nlet client = Client()\n{' ' * (col + 5)}^\n{' ' * (col + 5)}{param}: "
            f"<#{param}#>\n{ctx.root}/Sources/{target}Core/Client.swift:7:12: note: 'init(session:{param}:)' declared here\n"
            f"    public init(session: URLSession = .shared, {param}: ...)\n           ^")
    return _Task(
        r.choice((f"Fix missing '{param}' argument in main.swift", "Fix swift build after Client init change")),
        r.choice((f"swift build: missing argument for parameter '{param}' in call. Give it a sensible default in the "
                  "initializer instead of changing every call site.", "the build is broken since I changed Client's init")),
        diagnose=_bash("swift build", "Build the package", fail, 1),
        reads=[(f"Sources/{target}Core/Client.swift", client)],
        fixes=[("edit", f"Sources/{target}Core/Client.swift", f"{param}: {ty}) {{", f"{param}: {ty} = {default}) {{")],
        verify=_bash("swift build", "Build the package",
                     f"Building for debugging...\n[{r.randint(3, 9)}/{r.randint(10, 20)}] Compiling {target}Core "
                     f"Client.swift\nBuild complete! ({r.randint(1, 9)}.{r.randint(10, 99)}s)"),
        summary=f"Gave `{param}` a default of `{default}` in `Client.init`, so `Client()` in main.swift compiles "
                "again without touching call sites.")


def _swift_tests(ctx):
    n = ctx.r.randint(4, 30)
    return _bash("swift test", "Run the tests",
                 f"Building for debugging...\nBuild complete! (4.{ctx.r.randint(10, 99)}s)\nTest Suite 'All tests' passed.\n"
                 f"\t Executed {n} tests, with 0 failures (0 unexpected) in 0.0{ctx.r.randint(10, 99)} seconds")


def _swift_lint(ctx):
    return _bash("swift-format lint --recursive Sources Tests", "Lint Swift sources", "")


_KITS = {
    "rust": {"projects": ("ferris-cli", "logtail", "kvstore", "tinyhttp", "wordfreq"),
             "makers": (_rust_moved, _rust_clap, _rust_test_fail, _rust_clippy, _rust_module),
             "tests": _rust_tests, "lint": _rust_lint,
             "test_prompts": ("run the whole test suite too", "Can you run all the tests to be sure?"),
             "lint_prompts": ("also run clippy/fmt", "make sure fmt and clippy are clean")},
    "typescript": {"projects": ("dashboard-web", "api-gateway", "md-render", "invoice-svc", "chat-widget"),
                   "makers": (_ts_ts2345, _ts_vitest, _ts_build, _ts_eslint),
                   "tests": _ts_tests, "lint": _ts_lint,
                   "test_prompts": ("run npm test as well", "now run the full test suite"),
                   "lint_prompts": ("also check formatting", "run the linter too")},
    "python": {"projects": ("datapipe", "notes-api", "scraper", "invoice-parser", "mlutils"),
               "makers": (_py_keyerror, _py_assert, _py_feature, _py_ruff),
               "tests": _py_tests, "lint": _py_lint,
               "test_prompts": ("run the full pytest suite", "Make sure all the tests still pass."),
               "lint_prompts": ("run ruff as well", "also lint + format check")},
    "ruby": {"projects": ("storefront", "billing", "slugger", "sinatra-api"),
             "makers": (_rb_nomethod, _rb_expect, _rb_rake, _rb_feature),
             "tests": _rb_tests, "lint": _rb_lint,
             "test_prompts": ("run the whole spec suite", "run all specs please"),
             "lint_prompts": ("and rubocop?", "run rubocop too")},
    "swift": {"projects": ("weather-cli", "todo-core", "image-resizer", "net-client"),
              "makers": (_swift_scope, _swift_test, _swift_model, _swift_missing_arg),
              "tests": _swift_tests, "lint": _swift_lint,
              "test_prompts": ("run swift test too", "run the tests"),
              "lint_prompts": ("lint it with swift-format", "run swift-format lint")},
}


def _fake_secret(r: random.Random, n: int, alphabet: str = BASE62) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


# -- default store -----------------------------------------------------------------

class _SampleWriter:
    def __init__(self, path, seed, per_language):
        self.r = random.Random(f"sample-store:{seed}")
        self.b = StoreBuilder(path, seed=seed)
        self.per_language = per_language
        self.projects: dict[str, tuple[str, str]] = {}

    def project(self, name) -> tuple[str, str]:
        if name not in self.projects:
            root = f"/home/dev/src/{name}"
            self.projects[name] = (self.b.project(root), root)
        return self.projects[name]

    def new_session(self, name, title, *, agent="build", agent_column=True, model=DEFAULT_MODEL, parent_id=None,
                    time_created=None, reasoning=False, version=None):
        pid, root = self.project(name)
        sid = self.b.session(pid, directory=root, title=title, agent=agent if agent_column else None,
                             parent_id=parent_id, time_created=time_created, model=model,
                             version=version or (DEFAULT_VERSION if agent_column else "1.15.4"))
        return _Ctx(self.b, self.r, sid, root, name, model[0], reasoning=reasoning, agent=agent)

    def gap(self):
        # Hours between sessions, so the store spans a couple of weeks.
        self.b._now += self.r.randint(20 * 60_000, 9 * 3600_000)

    def set_title(self, sid, title):
        self.b._conn.execute("UPDATE session SET title = ? WHERE id = ?", (title, sid))

    # -- regular build sessions --------------------------------------------------
    def language_session(self, lang, idx, *, agent_column):
        r = self.r
        kit = _KITS[lang]
        name = kit["projects"][idx % len(kit["projects"])] if idx < len(kit["projects"]) else r.choice(kit["projects"])
        model = r.choices((DEFAULT_MODEL, ("anthropic", "claude-opus-4-5"), ("openai", "gpt-5.1-codex")),
                          weights=(7, 1, 2))[0]
        features = self.features.get((lang, idx), set())
        if features & {"task_parent", "secrets_env", "long_bash"}:
            model = DEFAULT_MODEL  # these flows are written for edit/tool-call-id shapes of Anthropic
        reasoning = "reasoning" in features or model[0] == "openai" or r.random() < 0.12
        ctx = self.new_session(name, "New session", agent_column=agent_column, model=model, reasoning=reasoning)
        if "task_parent" in features:
            extra = [self.env_read(ctx)] if "secrets_env" in features else []
            title = _ts_task_parent(ctx, lambda uid: self.child_session(ctx, uid), extra)
        else:
            if "long_bash" in features:
                task = _rust_moved(ctx, long_log=True)
            elif "secrets_env" in features:
                task = _ts_ts2345(ctx, env_read=self.env_read(ctx))
            else:
                task = self.makers[lang][idx % len(self.makers[lang])](ctx)
            title = task.title
            _play(ctx, task.prompt, _task_steps(ctx, task))
        # At most 3 prompts per session, counting the extra ones the edge cases add.
        turns = max(1, r.choice((1, 2, 2, 3)) - len(features & {"secrets_push", "interrupted"}))
        for _ in range(1, turns):
            prompt, steps = _followup(ctx, kit, title)
            _play(ctx, prompt, steps)
        if "secrets_push" in features:
            self.push_with_token(ctx)
        if "interrupted" in features:
            # The process died while the command ran: the tool stays `running`, no step-finish, no finish.
            uid = ctx.b.user_message(ctx.sid, r.choice(kit["test_prompts"]))
            ctx.b.assistant_step(ctx.sid, uid, text="Running the full suite.",
                                 tools=[{"tool": "bash", "status": "running",
                                         "input": {"command": kit["tests"](ctx)["input"]["command"],
                                                   "description": "Run the full test suite"}}], finish=None)
        self.set_title(ctx.sid, title)

    def env_read(self, ctx) -> dict:
        r = self.r
        content = (f"NODE_ENV=development\nAPI_URL=http://localhost:3000\nOPENAI_API_KEY=sk-proj-{_fake_secret(r, 48)}\n"
                   f"DATABASE_URL=postgres://app_user:{_fake_secret(r, 16)}@db.internal:5432/{ctx.crate}\nLOG_LEVEL=debug\n")
        return _read(ctx, ".env", content)

    def push_with_token(self, ctx):
        r = self.r
        token = "ghp_" + _fake_secret(r, 36)
        repo = f"acme/{ctx.name}"
        uid = ctx.b.user_message(ctx.sid, "push it to origin")
        ctx.b.assistant_step(ctx.sid, uid, tools=[_bash("git remote -v", "Show remotes",
                                                         f"origin\thttps://{token}@github.com/{repo}.git (fetch)\n"
                                                         f"origin\thttps://{token}@github.com/{repo}.git (push)")])
        ctx.b.assistant_step(ctx.sid, uid, tools=[_bash(
            f"git push https://{token}@github.com/{repo}.git HEAD:main", "Push to origin",
            f"To https://github.com/{repo}.git\n   {ctx.b._hex(28)}..{ctx.b._hex(28)}  HEAD -> main")])
        ctx.b.assistant_step(ctx.sid, uid, text="Pushed to origin/main.", finish="stop")

    # -- edge cases ------------------------------------------------------------------
    def child_session(self, parent: _Ctx, parent_uid):
        """The explore subagent run by the parent's task tool; returns (id, result, step time, tool start)."""
        b = self.b
        t_step = b._now + self.r.randint(400, 1500)
        t_start = t_step + self.r.randint(900, 2500)
        ctx = self.new_session(parent.name, EDGE_TITLES["subagent"], agent="explore", parent_id=parent.sid,
                               time_created=t_start + 40)
        prompt = ("Find where the API base URL and request timeout are configured in this repo. "
                  "Report file paths and line numbers.")
        uid = b.user_message(ctx.sid, prompt, agent="explore")
        b.assistant_step(ctx.sid, uid, agent="explore", tools=[
            _grep(ctx, "timeoutMs|baseUrl", [("src/config.ts", 2, 'baseUrl: process.env.API_URL ?? "http://localhost:3000",'),
                                             ("src/config.ts", 3, "timeoutMs: 5000,"),
                                             ("src/api/http.ts", 9, "signal: AbortSignal.timeout(config.timeoutMs),")],
                  include="*.ts")])
        b.assistant_step(ctx.sid, uid, agent="explore", tools=[
            _read(ctx, "src/api/http.ts", 'import { config } from "../config";\n\nexport async function request<T>(url: '
                                          'string): Promise<T> {\n  const res = await fetch(url, {\n    headers: { accept: '
                                          '"application/json" },\n    // abort slow requests\n    // so the UI can retry\n'
                                          '    // (see config.retries)\n    signal: AbortSignal.timeout(config.timeoutMs),\n'
                                          '  });\n  return (await res.json()) as T;\n}\n')])
        result = ("- `src/config.ts:2` `baseUrl` from `API_URL` (default http://localhost:3000)\n"
                  "- `src/config.ts:3` `timeoutMs: 5000` (hard-coded)\n"
                  "- `src/api/http.ts:9` used via `AbortSignal.timeout(config.timeoutMs)`")
        b.assistant_step(ctx.sid, uid, agent="explore", text=result, finish="stop")
        return ctx.sid, result, t_step, t_start

    def plan_session(self):
        ctx = self.new_session("api-gateway", EDGE_TITLES["plan"], agent="plan")
        client = ('import { request } from "./http";\n\nexport async function getUser(id: string) {\n  return request(`/users/${id}`);\n}\n\n'
                  'export async function listInvoices() {\n  return request("/invoices");\n}\n\nexport async function '
                  'getProject(id: string) {\n  return request(`/projects/${id}`);\n}\n')
        steps = [
            _step("Let me look at the current client and its callers.",
                  [_glob(ctx, "src/api/**/*.ts", ["src/api/client.ts", "src/api/http.ts"]), _read(ctx, "src/api/client.ts", client)]),
            _step(None, [_grep(ctx, "from \"./api/client\"", [("src/pages/users.tsx", 3, 'import { getUser } from "./api/client";'),
                                                              ("src/pages/billing.tsx", 2, 'import { listInvoices } from "./api/client";')],
                               include="*.tsx")]),
            _step("Plan:\n1. Create `src/api/users.ts`, `src/api/invoices.ts`, `src/api/projects.ts`, one per resource.\n"
                  "2. Keep `src/api/client.ts` as a barrel re-exporting them so existing imports keep working.\n"
                  "3. Update `src/pages/users.tsx` and `src/pages/billing.tsx` to import from the new modules.\n"
                  "4. Run `npm run typecheck` and `npm test`.\nSwitch to the build agent when you want me to do it.",
                  finish="stop")]
        _play(ctx, "I want to split src/api/client.ts into per-resource modules. Don't change anything yet, just give me a plan.",
              steps, agent="plan")

    def compaction_session(self):
        ctx = self.new_session("datapipe", EDGE_TITLES["compaction"])
        b, r = self.b, self.r
        importer = ("import csv\nfrom pathlib import Path\n\nfrom .core import Row, parse_row\n\n\ndef import_csv(path: Path) -> list[Row]:\n"
                    "    with path.open(newline=\"\") as fh:\n        rows = list(csv.DictReader(fh))\n    return [parse_row(r) for r in rows]\n")
        uid = b.user_message(ctx.sid, "import_csv loads the whole file into memory. Refactor it to stream rows (generator) "
                                      "and update the callers.")
        b.assistant_step(ctx.sid, uid, text="Let me read the importer.", tools=[
            _read(ctx, "src/datapipe/importer.py", importer),
            _grep(ctx, "import_csv\\(", [("src/datapipe/cli.py", 24, "rows = import_csv(Path(args.path))"),
                                         ("tests/test_importer.py", 9, "rows = import_csv(sample)")], include="*.py")])
        read_part = b.last_tool_part_ids[0]
        b.assistant_step(ctx.sid, uid, tools=[_edit(ctx, "src/datapipe/importer.py",
                                                    "def import_csv(path: Path) -> list[Row]:\n    with path.open(newline=\"\") as fh:\n"
                                                    "        rows = list(csv.DictReader(fh))\n    return [parse_row(r) for r in rows]",
                                                    "def import_csv(path: Path) -> Iterator[Row]:\n    with path.open(newline=\"\") as fh:\n"
                                                    "        for raw in csv.DictReader(fh):\n            yield parse_row(raw)")])
        b.assistant_step(ctx.sid, uid, tools=[_edit(ctx, "tests/test_importer.py", "    rows = import_csv(sample)",
                                                    "    rows = list(import_csv(sample))")])
        # Auto-compaction: user message with a compaction part, a summary step, then a synthetic resume prompt.
        cuid = b.user_message(ctx.sid, None, extra_parts=[{"type": "compaction", "auto": True, "overflow": True}],
                              time=b._now + r.randint(500, 2000))
        b.prune_tool_output(read_part)
        b.assistant_step(ctx.sid, cuid, agent="compaction", summary=True, finish="stop",
                         text="## Summary\n- Goal: make `import_csv` in src/datapipe/importer.py stream rows.\n"
                              "- Done: `import_csv` is now a generator; tests/test_importer.py wraps it in `list()`.\n"
                              "- Next: add the missing `Iterator` import, update src/datapipe/cli.py, run pytest.")
        ruid = b.user_message(ctx.sid, None, synthetic_parts=["Continue if you have next steps"],
                              time=b._now + r.randint(200, 900))
        b.assistant_step(ctx.sid, ruid, tools=[_edit(ctx, "src/datapipe/importer.py", "from pathlib import Path\n",
                                                     "from pathlib import Path\nfrom typing import Iterator\n")])
        b.assistant_step(ctx.sid, ruid, tools=[_bash("python -m pytest -q", "Run the tests",
                                                     "......" + " " * 66 + " [100%]\n6 passed in 0.11s")])
        b.assistant_step(ctx.sid, ruid, text="`import_csv` now yields rows one at a time; the CLI already iterates "
                                             "lazily and the tests pass.", finish="stop")

    def signal_free_session(self):
        pid = self.projects.get("global", (None,))[0] or self.b.project("/", id="global")
        self.projects["global"] = (pid, "/")
        sid = self.b.session(pid, directory="/home/dev", title=EDGE_TITLES["signal_free"], agent="build")
        ctx = _Ctx(self.b, self.r, sid, "/home/dev", "home", "anthropic")
        _play(ctx, "explain git rebase vs merge, when should I use each?", [_step(
            "`git merge` joins two histories with a merge commit; nothing is rewritten. `git rebase` replays your "
            "commits on top of another branch, producing a linear history with new commit ids.\n\nUse merge for "
            "shared branches and to record when work was integrated. Use rebase to tidy up a local feature branch "
            "before opening a PR. Never rebase commits others have already pulled.", finish="stop")])
        _play(ctx, "and what does --onto do?", [_step(
            "`git rebase --onto <newbase> <upstream> <branch>` takes the commits in `<branch>` that are not in "
            "`<upstream>` and replays them on `<newbase>`. It is handy for moving a branch that was started from the "
            "wrong base.", finish="stop")])

    def mixed_session(self):
        ctx = self.new_session("fasttok", EDGE_TITLES["mixed"])
        lib = ("use pyo3::prelude::*;\n\n/// Split text on whitespace and punctuation.\npub fn tokenize(text: &str) -> Vec<String> {\n"
               "    text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_owned).collect()\n}\n\n"
               "#[pymodule]\nfn _fasttok(m: &Bound<'_, PyModule>) -> PyResult<()> {\n    Ok(())\n}\n")
        init = "from ._fasttok import *  # noqa: F403\n\n__all__ = []\n"
        steps = [
            _step("Let me look at both sides of the binding.",
                  [_read(ctx, "src/lib.rs", lib), _read(ctx, "python/fasttok/__init__.py", init)]),
            _step(None, [_edit(ctx, "src/lib.rs", "#[pymodule]\nfn _fasttok(m: &Bound<'_, PyModule>) -> PyResult<()> {\n    Ok(())",
                               "#[pyfunction]\nfn count_tokens(text: &str) -> usize {\n    tokenize(text).len()\n}\n\n"
                               "#[pymodule]\nfn _fasttok(m: &Bound<'_, PyModule>) -> PyResult<()> {\n"
                               "    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;\n    Ok(())"),
                         _edit(ctx, "python/fasttok/__init__.py", "__all__ = []", "__all__ = [\"count_tokens\"]")]),
            _step(None, [_bash("cargo test", "Run Rust tests",
                               "   Compiling fasttok v0.2.0 (/home/dev/src/fasttok)\n    Finished `test` profile [unoptimized + "
                               "debuginfo] target(s) in 4.10s\n     Running unittests src/lib.rs\n\nrunning 3 tests\n...\n"
                               "test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out")]),
            _step(None, [_bash("maturin develop -q && python -m pytest -q tests/test_tokenize.py", "Build the extension and run Python tests",
                               "🔗 Found pyo3 bindings\n📦 Built wheel for CPython 3.11 to /tmp/.tmpX/fasttok-0.2.0-cp311-cp311-linux_x86_64.whl\n"
                               "🛠 Installed fasttok-0.2.0\n...." + " " * 68 + " [100%]\n4 passed in 0.03s")]),
            _step("`count_tokens` is now a `#[pyfunction]` registered in the `_fasttok` module and exported from "
                  "`fasttok`. cargo test and pytest both pass.", finish="stop")]
        _play(ctx, "Expose a `count_tokens(text)` function from the Rust core to Python (PyO3), and export it from the "
                   "fasttok package.", steps)

    # -- assembly ------------------------------------------------------------------
    def run(self):
        r, n = self.r, self.per_language
        slots = [("lang", lang, i) for lang in LANGUAGES for i in range(n)]
        slots += [("edge", e, 0) for e in ("plan", "compaction", "signal_free", "mixed")]
        r.shuffle(slots)
        # Each language walks its task makers in a seeded order, so sessions differ in kind, not just names.
        self.makers = {}
        for lang in LANGUAGES:
            makers = list(_KITS[lang]["makers"])
            r.shuffle(makers)
            self.makers[lang] = makers
        # Fixed homes for embedded edge cases, so each default store has exactly one of each.
        self.features = {}
        if n:
            one = min(1, n - 1)
            for key, feat in ((("python", 0), "reasoning"), (("rust", 0), "long_bash"),
                              (("typescript", 0), "task_parent"), (("typescript", one), "secrets_env"),
                              (("python", one), "secrets_push"), (("ruby", one), "interrupted")):
                self.features.setdefault(key, set()).add(feat)
        # The oldest third predates the agent/model columns' migration: NULL there, agent only in message data.
        legacy = len(slots) // 3
        for pos, (kind, what, idx) in enumerate(slots):
            if pos:
                self.gap()
            if kind == "lang":
                self.language_session(what, idx, agent_column=pos >= legacy)
            else:
                getattr(self, f"{what}_session")()
        self.b.close()


def build_sample_store(path, *, seed=0, sessions_per_language=8) -> Path:
    """Write the default sample store to `path` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    try:
        _SampleWriter(tmp, seed, sessions_per_language).run()
    except BaseException:
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
        raise
    for p in (Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    # A stale -wal next to the target would be replayed over the new file by the next reader.
    for p in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    os.replace(tmp, path)
    return path


def add_sample_sessions(path, *, seed, sessions_per_language=8) -> int:
    """Add another seed's sessions to an existing store, as new sessions arriving would; returns how many.

    The new store is built beside it, then its rows are copied in (rows the store already holds are kept).
    """
    import tempfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no store to add sessions to")
    with tempfile.TemporaryDirectory(prefix="sample-store-", dir=path.parent) as tmp:
        new = build_sample_store(Path(tmp) / "new.db", seed=seed, sessions_per_language=sessions_per_language)
        conn = sqlite3.connect(str(path))
        try:
            before = conn.execute("SELECT COUNT(*) FROM session").fetchone()[0]
            conn.execute("ATTACH DATABASE ? AS new", (str(new),))
            tables = [r[0] for r in conn.execute("SELECT name FROM new.sqlite_master WHERE type = 'table' "
                                                 "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_%' ESCAPE '\\'")]
            with conn:
                for t in tables:
                    conn.execute(f"INSERT OR IGNORE INTO main.`{t}` SELECT * FROM new.`{t}`")
            added = conn.execute("SELECT COUNT(*) FROM session").fetchone()[0] - before
            conn.execute("DETACH DATABASE new")
        finally:
            conn.close()
    return added


def sample_store_counts(path) -> tuple[int, int]:
    """(all sessions, top-level build sessions that are not edge cases) of a store written here."""
    # immutable: a plain read would leave -wal/-shm files beside a freshly written store.
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro&immutable=1", uri=True)
    try:
        total = conn.execute("SELECT COUNT(*) FROM session").fetchone()[0]
        edge = tuple(EDGE_TITLES.values())
        build = conn.execute(
            f"""SELECT COUNT(*) FROM session s WHERE s.parent_id IS NULL AND s.title NOT IN ({','.join('?' * len(edge))})
                AND (SELECT json_extract(m.data, '$.agent') FROM message m WHERE m.session_id = s.id
                     AND json_valid(m.data) AND json_extract(m.data, '$.role') = 'user'
                     ORDER BY m.time_created, m.id LIMIT 1) = 'build'""", edge).fetchone()[0]
    finally:
        conn.close()
    return total, build


def edge_sessions(path) -> dict[str, str]:
    """Session ids of the default store's edge cases, found the way a reader would (titles and content)."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro&immutable=1", uri=True)
    try:
        found = {}
        for key, title in EDGE_TITLES.items():
            row = conn.execute("SELECT id FROM session WHERE title = ? ORDER BY time_created LIMIT 1", (title,)).fetchone()
            if row:
                found[key] = row[0]
        probes = {
            "task_parent": "json_extract(p.data, '$.tool') = 'task'",
            "reasoning": "json_extract(p.data, '$.type') = 'reasoning'",
            "interrupted": "json_extract(p.data, '$.state.status') = 'running'",
            "long_bash": "json_extract(p.data, '$.tool') = 'bash' AND length(json_extract(p.data, '$.state.output')) > 20000",
            "secrets_env": "p.data LIKE '%OPENAI_API_KEY=sk-%'",
            "secrets_token": "p.data LIKE '%ghp\\_%' ESCAPE '\\'",
        }
        for key, cond in probes.items():
            row = conn.execute(f"SELECT s.id FROM part p JOIN session s ON s.id = p.session_id WHERE json_valid(p.data) "
                               f"AND {cond} ORDER BY s.time_created LIMIT 1").fetchone()
            if row:
                found[key] = row[0]
    finally:
        conn.close()
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sample.store", description=__doc__)
    ap.add_argument("--out", required=True, help="path of the opencode.db to write (overwritten)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sessions-per-language", type=int, default=8)
    ap.add_argument("--add", action="store_true",
                    help="add the generated sessions to the existing store at --out (new sessions arriving)")
    args = ap.parse_args(argv)
    if args.add:
        added = add_sample_sessions(args.out, seed=args.seed, sessions_per_language=args.sessions_per_language)
        total, build = sample_store_counts(args.out)
        print(f"sample store: {added} sessions added, {total} now ({build} build) -> {args.out}")
        return 0
    out = build_sample_store(args.out, seed=args.seed, sessions_per_language=args.sessions_per_language)
    total, build = sample_store_counts(out)
    print(f"sample store: {total} sessions ({build} build) -> {args.out}")
    return 0


if __name__ == "__main__":
    from core import entry

    raise SystemExit(entry.run("sample.store", main))

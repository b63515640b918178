"""Task sets: bundled per-language suites and the user's own, each task a repository, an instruction and a test."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

BUNDLED = Path(__file__).resolve().parent / "tasks"
# the programs a language's test commands need; a task whose toolchain is missing is skipped and counted
TOOLCHAINS = {"python": ("python3",), "rust": ("cargo",), "typescript": ("tsc", "node"), "ruby": ("ruby",),
              "swift": ("swift",)}


class TaskError(Exception):
    """A task folder the user must fix; the message names it."""


@dataclass(frozen=True)
class Task:
    """One task: `repo/` is what the agent starts from, `judge/` is copied over it before `test` runs, and `fix/`
    (bundled tasks) is the reference fix laid over `repo/`."""
    id: str
    language: str
    instruction: str
    test: str
    folder: Path
    timeout: int = 300

    @property
    def requires(self) -> tuple[str, ...]:
        return TOOLCHAINS.get(self.language, ())

    def missing_tools(self) -> list[str]:
        return [t for t in self.requires if shutil.which(t) is None]

    def checkout(self, dest: Path, *, fixed: bool = False) -> Path:
        """A fresh working copy of the task's repository in dest (the reference fix applied when fixed)."""
        shutil.copytree(self.folder / "repo", dest, symlinks=True)
        if fixed:
            overlay(self.folder / "fix", dest)
        return dest


def overlay(src: Path, dest: Path) -> None:
    """Copy every file under src to the same place under dest, replacing what is there."""
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True)


def load_task(folder: Path, *, language: str | None = None, prefix: str = "") -> Task:
    spec_path = folder / "task.yaml"
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise TaskError(f"{spec_path}: cannot read the task: {e}") from None
    if not isinstance(spec, dict):
        raise TaskError(f"{spec_path}: expected a mapping with instruction and test")
    for key in ("instruction", "test"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise TaskError(f"{spec_path}: `{key}` is missing or empty")
    if not (folder / "repo").is_dir():
        raise TaskError(f"{folder}: no repo/ folder (the repository the agent starts from)")
    lang = spec.get("language") or language
    if not lang:
        raise TaskError(f"{spec_path}: no `language` (and the folder is not under a language suite)")
    timeout = spec.get("timeout", 300)
    if not isinstance(timeout, int) or timeout <= 0:
        raise TaskError(f"{spec_path}: `timeout` must be a positive number of seconds")
    return Task(id=f"{prefix}{folder.name}", language=str(lang), instruction=spec["instruction"].strip(),
                test=spec["test"].strip(), folder=folder.resolve(), timeout=timeout)


def load_suite(spec: str | Path) -> list[Task]:
    """A bundled language suite by name (`python`, `rust`, ...), or a folder of task folders, or one task folder."""
    spec = str(spec)
    if "/" not in spec and (BUNDLED / spec).is_dir():
        folder, language = BUNDLED / spec, spec
    else:
        folder, language = Path(spec), None
        if spec == "replay" and not folder.is_dir():
            raise TaskError("task set replay: a specialist's held-out sessions, replayed by agent eval only "
                            "(make agent-eval NAME=serpent TASKS=replay; python -m agent replay-check NAME lists them); "
                            "they are test sessions, so generating training runs from them would train on the test split")
        if not folder.is_dir():
            known = ", ".join(sorted(p.name for p in BUNDLED.iterdir() if p.is_dir()))
            raise TaskError(f"task set {spec}: not a folder nor a bundled suite ({known})")
    if (folder / "task.yaml").is_file():
        return [load_task(folder, language=language)]
    tasks = [load_task(p, language=language) for p in sorted(folder.iterdir()) if (p / "task.yaml").is_file()]
    if not tasks:
        raise TaskError(f"task set {folder}: no task folders (each with a task.yaml) in it")
    return tasks

"""Task sets: every bundled task fails unfixed and passes with its reference fix; loading errors are one line."""
import shutil
import subprocess
import sys

import pytest

from agent.evaluate import split_runnable
from agent.runner import prove
from agent.tasks import BUNDLED, TOOLCHAINS, TaskError, load_suite

SUITES = sorted(p.name for p in BUNDLED.iterdir() if p.is_dir())


def _tasks(suite):
    return [pytest.param(t, id=f"{suite}/{t.id}") for t in load_suite(suite)]


def test_every_bundled_suite_has_at_least_ten_tasks():
    assert {"python", "rust", "typescript"} <= set(SUITES)
    for suite in SUITES:
        tasks = load_suite(suite)
        assert len(tasks) >= 10, suite
        assert all(t.language == suite and t.instruction and t.test for t in tasks)
        assert all((t.folder / "fix").is_dir() and (t.folder / "judge").is_dir() for t in tasks)


def _prove(task, tmp_path):
    missing = task.missing_tools()
    if missing:
        pytest.skip(f"toolchain missing: {', '.join(missing)}")
    r = prove(task, tmp_path, sandbox_setting="none")
    assert r == {"unfixed_passes": False, "fixed_passes": True}


@pytest.mark.parametrize("task", _tasks("python"))
def test_python_task_fails_unfixed_and_passes_fixed(task, tmp_path):
    _prove(task, tmp_path)


@pytest.mark.slow  # a cargo build or tsc run per state: seconds each
@pytest.mark.parametrize("task", _tasks("rust") + _tasks("typescript"))
def test_compiled_task_fails_unfixed_and_passes_fixed(task, tmp_path):
    _prove(task, tmp_path)


def test_a_task_whose_toolchain_is_missing_is_skipped_and_counted(monkeypatch):
    tasks = load_suite("python")[:3] + load_suite("rust")[:2]
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "cargo" else real(name, *a, **k))
    runnable, skipped = split_runnable(tasks)
    assert [t.language for t in runnable] == ["python"] * 3
    assert skipped["count"] == 2 and skipped["missing_tools"] == {"cargo": 2}
    assert TOOLCHAINS["rust"] == ("cargo",)


def _write_task(folder, spec):
    (folder / "repo").mkdir(parents=True)
    (folder / "task.yaml").write_text(spec)


def test_a_folder_of_user_tasks_loads(tmp_path):
    _write_task(tmp_path / "suite" / "one", "language: python\ninstruction: do it\ntest: python3 -c 'print(1)'\n")
    _write_task(tmp_path / "suite" / "two", "language: python\ninstruction: again\ntest: 'true'\ntimeout: 5\n")
    tasks = load_suite(tmp_path / "suite")
    assert [t.id for t in tasks] == ["one", "two"] and tasks[1].timeout == 5


@pytest.mark.parametrize("spec, message", [
    ("language: python\ntest: x\n", "`instruction` is missing"),
    ("language: python\ninstruction: x\n", "`test` is missing"),
    ("instruction: x\ntest: y\n", "no `language`"),
    ("language: python\ninstruction: x\ntest: y\ntimeout: -1\n", "`timeout` must be"),
    ("- a list\n", "expected a mapping"),
])
def test_a_bad_task_is_one_line_naming_its_file(tmp_path, spec, message):
    _write_task(tmp_path / "t", spec)
    with pytest.raises(TaskError, match=message) as e:
        load_suite(tmp_path / "t")
    assert str(tmp_path / "t") in str(e.value) and "\n" not in str(e.value)


def test_an_unknown_task_set_names_the_bundled_ones(tmp_path):
    with pytest.raises(TaskError, match="not a folder nor a bundled suite .*python"):
        load_suite(tmp_path / "nope")


def test_agent_check_cli_proves_a_suite():
    out = subprocess.run([sys.executable, "-m", "agent", "check", "--tasks", "python", "--sandbox", "none"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "check python: 12 tasks proven, 0 not, 0 skipped" in out.stdout

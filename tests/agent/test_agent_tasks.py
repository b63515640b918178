"""Task sets: every bundled task fails unfixed and passes with its reference fix; loading errors are one line."""
import filecmp
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from agent.evaluate import split_runnable
from agent.runner import prove
from agent.tasks import BUNDLED, TOOLCHAINS, TaskError, load_suite

SUITES = sorted(p.name for p in BUNDLED.iterdir() if p.is_dir())


def _tasks(suite):
    return [pytest.param(t, id=f"{suite}/{t.id}") for t in load_suite(suite)]


def test_every_bundled_suite_has_at_least_ten_tasks():
    assert set(SUITES) == set(TOOLCHAINS) == {"python", "rust", "typescript", "ruby", "swift"}
    for suite in SUITES:
        tasks = load_suite(suite)
        assert len(tasks) >= 10, suite
        assert all(t.language == suite and t.instruction and t.test for t in tasks)
        assert all((t.folder / "fix").is_dir() and (t.folder / "judge").is_dir() for t in tasks)


def _files(folder):
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


ALL_TASKS = [t for suite in SUITES for t in _tasks(suite)]


@pytest.mark.parametrize("task", ALL_TASKS)
def test_a_bundled_task_is_well_formed(task):
    """Runs everywhere, toolchain or not: the parts are there, the fix is a change, the judge leaves the fix alone."""
    spec = yaml.safe_load((task.folder / "task.yaml").read_text())  # loaded already; no key it would ignore
    assert set(spec) <= {"instruction", "test", "language", "timeout"} and task.instruction and task.test
    repo, fix, judge = (task.folder / part for part in ("repo", "fix", "judge"))
    assert _files(repo) and _files(fix) and _files(judge), "repo/, fix/ and judge/ each hold files"
    changed = [f for f in _files(fix) if not (repo / f).is_file() or not filecmp.cmp(repo / f, fix / f, shallow=False)]
    assert changed, "the reference fix changes no file of repo/"
    assert not _files(judge) & _files(fix), "a judge file would overwrite the reference fix"
    # the test command starts with the language's toolchain, so a missing one skips the task instead of failing it
    assert shlex.split(task.test)[0] in TOOLCHAINS[task.language]
    assert not {p.name for p in task.folder.iterdir()} - {"task.yaml", "repo", "fix", "judge"}


def _prove(task, tmp_path):
    missing = task.missing_tools()
    if missing:
        pytest.skip(f"toolchain missing: {', '.join(missing)}")
    r = prove(task, tmp_path, sandbox_setting="none")
    assert r == {"unfixed_passes": False, "fixed_passes": True}


@pytest.mark.parametrize("task", _tasks("python") + _tasks("ruby"))
def test_interpreted_task_fails_unfixed_and_passes_fixed(task, tmp_path):
    _prove(task, tmp_path)


@pytest.mark.slow  # a cargo build, tsc run or swift build per state: seconds each
@pytest.mark.parametrize("task", _tasks("rust") + _tasks("typescript") + _tasks("swift"))
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


@pytest.mark.skipif(shutil.which("swift") is not None, reason="swift is installed: its tasks are proven instead")
def test_agent_check_skips_and_counts_the_swift_suite_without_swift():
    out = subprocess.run([sys.executable, "-m", "agent", "check", "--tasks", "swift", "--sandbox", "none"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"check swift: 0 tasks proven, 0 not, {len(load_suite('swift'))} skipped (missing: swift)" in out.stdout


@pytest.mark.skipif(shutil.which("bwrap") is None or shutil.which("ruby") is None, reason="needs bubblewrap and ruby")
def test_a_ruby_task_is_proven_under_bubblewrap(tmp_path):
    """Ruby and its bundled minitest work with the read-only root, the temporary HOME and no network."""
    task = next(t for t in load_suite("ruby") if t.id == "query-string-escape")
    assert prove(task, tmp_path, sandbox_setting="bubblewrap") == {"unfixed_passes": False, "fixed_passes": True}

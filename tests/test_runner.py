"""Tests for tuneforge.runner: real subprocesses, from the trial folder to the outcome."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tuneforge.events import (
    MetricObserved,
    StopSignal,
    TrialEvent,
    TrialOutcome,
    TrialStarted,
)
from tuneforge.metrics import MetricDefinition
from tuneforge.runner import RunSpec, TemplateSpec, run_trial
from tuneforge.trial import TrialState

MakeSpec = Callable[..., RunSpec]
VAL_ACC = MetricDefinition("val_acc", r"val_acc=(\S+)")


class Recorder:
    """Collects emitted events; an optional hook sees each one as it arrives."""

    def __init__(self, hook: Callable[[TrialEvent], None] | None = None) -> None:
        self.events: list[TrialEvent] = []
        self.hook = hook

    def __call__(self, event: TrialEvent) -> None:
        self.events.append(event)
        if self.hook is not None:
            self.hook(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def make_spec(tmp_path: Path) -> Callable[..., RunSpec]:
    """Build a RunSpec that runs a Python script (given as source) in a fresh trial folder."""

    def make(script: str, args: tuple[str, ...] = (), **overrides: Any) -> RunSpec:
        path = tmp_path / "train.py"
        path.write_text(textwrap.dedent(script))
        fields: dict[str, Any] = {
            "job_name": "job",
            "number": 7,
            "params": {},
            "static": {},
            "command": (sys.executable, str(path), *args),
            "trial_dir": str(tmp_path / "trials" / "7"),
            "workdir": "${trial_dir}",
            "metrics": (VAL_ACC,),
            "objective": "val_acc",
            "stop_grace": 0.5,
        }
        fields.update(overrides)
        return RunSpec(**fields)

    return make


def run(spec: RunSpec, stop: StopSignal | None = None) -> tuple[TrialOutcome, Recorder]:
    recorder = Recorder()
    return run_trial(spec, recorder, stop or StopSignal()), recorder


def gone(pid: int, within: float = 3.0) -> bool:
    """Whether a process has ended (a zombie awaiting its reaper counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


SPAWN_CHILD = """
    import subprocess, sys, time
    child = subprocess.Popen(["sleep", "1000"])
    print("child", child.pid, flush=True)
"""


def child_pid(outcome: TrialOutcome) -> int:
    line = next(line for line in (outcome.log_tail or "").splitlines() if line.startswith("child"))
    return int(line.split()[1])


# --- completed trials ---------------------------------------------------------------------


def test_completed_trial_writes_its_folder_and_emits_events(make_spec: MakeSpec) -> None:
    """A script printing the objective completes with its last value, events and files."""
    spec = make_spec(
        """
        print("starting")
        print("val_acc=0.5")
        print("val_acc=0.75")
        """,
        params={"lr": 0.1},
        static={"epochs": 3},
    )
    outcome, recorder = run(spec)
    assert outcome.state is TrialState.COMPLETED and outcome.value == 0.75
    assert outcome.metrics == {"val_acc": 0.75}
    assert outcome.log_tail == "starting\nval_acc=0.5\nval_acc=0.75"
    started = recorder.events[0]
    assert isinstance(started, TrialStarted)
    assert (started.number, started.trial_dir) == (7, spec.trial_dir) and started.pid
    assert [(e.observation.value, e.observation.step) for e in recorder.of(MetricObserved)] == [
        (0.5, 0),
        (0.75, 1),
    ]
    folder = Path(spec.trial_dir)
    assert json.loads((folder / "params.json").read_text()) == {
        "job": "job",
        "trial": 7,
        "params": {"lr": 0.1},
        "static": {"epochs": 3},
    }
    assert (folder / "trial.log").read_text() == "starting\nval_acc=0.5\nval_acc=0.75\n"
    lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [(x["metric"], x["value"], x["step"]) for x in lines] == [
        ("val_acc", 0.5, 0),
        ("val_acc", 0.75, 1),
    ]


def test_report_from_the_script_reaches_the_runner(make_spec: MakeSpec) -> None:
    """tuneforge.report() inside the trial becomes observations with the reported steps."""
    spec = make_spec(
        """
        from tuneforge.report import report
        for epoch in range(3):
            report(step=epoch * 10, val_acc=epoch / 4, loss=1.0)
        """,
        metrics=(),
    )
    outcome, recorder = run(spec)
    assert outcome.state is TrialState.COMPLETED and outcome.value == 0.5
    seen = [(e.observation.metric, e.observation.step) for e in recorder.of(MetricObserved)]
    assert ("val_acc", 20) in seen and ("loss", 0) in seen and len(seen) == 6


def test_tab_lines_and_stderr_are_read(make_spec: MakeSpec) -> None:
    """`name<TAB>value` lines are read from stderr as well as stdout."""
    spec = make_spec(
        """
        import sys
        print("loss\\t0.25")
        print("val_acc\\t0.5", file=sys.stderr)
        """,
        metrics=(),
    )
    outcome, _ = run(spec)
    assert outcome.state is TrialState.COMPLETED
    assert outcome.metrics == {"loss": 0.25, "val_acc": 0.5}


def test_smac_success_line_gives_the_objective(make_spec: MakeSpec) -> None:
    """A SAT result line's quality is the trial's value."""
    spec = make_spec('print("Result of this algorithm run: SAT, 2.0, -1, 0.125, 1")', metrics=())
    outcome, _ = run(spec)
    assert outcome.state is TrialState.COMPLETED and outcome.value == 0.125
    assert outcome.metrics["smac:runtime"] == 2.0


def test_smac_crashed_status_fails_the_trial(make_spec: MakeSpec) -> None:
    """A CRASHED result line fails the trial even though the script exits 0."""
    spec = make_spec(
        'print("val_acc=0.5")\nprint("Result of this algorithm run: CRASHED, 1, -1, 0, 1")'
    )
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED
    assert outcome.reason == "SMAC result status CRASHED"


def test_progress_bar_carriage_returns_split_lines(make_spec: MakeSpec) -> None:
    """Metrics printed after \\r progress updates are still read."""
    spec = make_spec(
        """
        import sys, time
        for i in range(3):
            sys.stdout.write(f"\\r{i}/3 [###]")
        sys.stdout.write("\\rval_acc=0.5\\r")
        sys.stdout.flush()
        time.sleep(0.05)  # the "\\n" of this "\\r\\n" arrives in another chunk
        sys.stdout.write("\\n\\ndone\\r\\n")
        """
    )
    outcome, _ = run(spec)
    assert outcome.state is TrialState.COMPLETED and outcome.value == 0.5
    assert outcome.log_tail == "0/3 [###]\n1/3 [###]\n2/3 [###]\nval_acc=0.5\n\ndone"


def test_long_lines_are_logged_whole_but_held_cut(make_spec: MakeSpec) -> None:
    """A multi-megabyte line goes to the log whole; the tail holds a cut version."""
    spec = make_spec(
        """
        import sys
        sys.stdout.write("x" * 3_000_000 + "\\n")
        print("val_acc=0.5")
        """
    )
    outcome, _ = run(spec)
    assert outcome.state is TrialState.COMPLETED and outcome.value == 0.5
    assert os.path.getsize(Path(spec.trial_dir) / "trial.log") == 3_000_000 + 1 + 12
    first = (outcome.log_tail or "").splitlines()[0]
    assert len(first) < 2000 and first.endswith("[...]")


def test_environment_and_workdir(make_spec: MakeSpec) -> None:
    """The script sees its params, trial and job in env vars and runs in the workdir."""
    spec = make_spec(
        """
        import json, os
        keys = ["TUNEFORGE_PARAM_BATCH_SIZE", "TUNEFORGE_PARAM_USE_BN", "TUNEFORGE_PARAM_EPOCHS",
                "TUNEFORGE_TRIAL_ID", "TUNEFORGE_TRIAL_DIR", "TUNEFORGE_JOB_NAME",
                "TUNEFORGE_REPORT", "PYTHONUNBUFFERED", "MY_OUT"]
        seen = {k: os.environ.get(k) for k in keys}
        seen["cwd"] = os.getcwd()
        with open("seen.json", "w") as f:
            json.dump(seen, f)
        print("val_acc=1")
        """,
        params={"batch-size": 32, "use_bn": True},
        static={"epochs": 3},
        env={"MY_OUT": "${trial_dir}/out-${batch-size}"},
    )
    outcome, _ = run(spec)
    assert outcome.state is TrialState.COMPLETED
    seen = json.loads((Path(spec.trial_dir) / "seen.json").read_text())
    assert seen == {
        "TUNEFORGE_PARAM_BATCH_SIZE": "32",
        "TUNEFORGE_PARAM_USE_BN": "true",
        "TUNEFORGE_PARAM_EPOCHS": "3",
        "TUNEFORGE_TRIAL_ID": "7",
        "TUNEFORGE_TRIAL_DIR": spec.trial_dir,
        "TUNEFORGE_JOB_NAME": "job",
        "TUNEFORGE_REPORT": os.path.join(spec.trial_dir, "report.jsonl"),
        "PYTHONUNBUFFERED": "1",
        "MY_OUT": f"{spec.trial_dir}/out-32",
        "cwd": spec.trial_dir,
    }


def test_a_continuing_trial_gets_the_folder_it_resumes_from(
    make_spec: MakeSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resume_dir` reaches ${resume_dir}, $TUNEFORGE_RESUME_DIR and params.json; a trial
    that starts afresh gets an empty placeholder and no variable, even if the controller's
    own environment has one."""
    script = """
        import json, os, sys
        with open("seen.json", "w") as f:
            json.dump({"arg": sys.argv[1], "env": os.environ.get("TUNEFORGE_RESUME_DIR")}, f)
        print("val_acc=1")
        """
    earlier = str(tmp_path / "trials" / "3")
    resumed = make_spec(script, ("--resume=${resume_dir}",), resume_dir=earlier)
    assert run(resumed)[0].state is TrialState.COMPLETED
    folder = Path(resumed.trial_dir)
    assert json.loads((folder / "seen.json").read_text()) == {
        "arg": f"--resume={earlier}",
        "env": earlier,
    }
    assert json.loads((folder / "params.json").read_text())["resume_dir"] == earlier

    fresh = make_spec(script, ("--resume=${resume_dir}",), number=8,
                      trial_dir=str(tmp_path / "trials" / "8"))  # fmt: skip
    monkeypatch.setenv("TUNEFORGE_RESUME_DIR", "/somewhere/else")
    assert run(fresh)[0].state is TrialState.COMPLETED
    folder = Path(fresh.trial_dir)
    assert json.loads((folder / "seen.json").read_text()) == {"arg": "--resume=", "env": None}
    assert "resume_dir" not in json.loads((folder / "params.json").read_text())


# --- parameter values are data ------------------------------------------------------------

HOSTILE = {
    "semicolon": "a; rm -rf ~",
    "subshell": "$(touch pwned)",
    "backticks": "`touch pwned2`",
    "quotes": 'it\'s "quoted" \\ ',
    "newline": "line1\nline2",
    "placeholder": "${lr}",
    "unicode": "héllo ✓ 日本",
    "spaces": "  two  words ",
}


def test_hostile_values_arrive_as_single_literal_arguments(make_spec: MakeSpec) -> None:
    """Shell syntax, quotes, newlines, `${...}` and non-ASCII reach argv and env literally."""
    names = sorted(HOSTILE)
    spec = make_spec(
        """
        import json, os, sys
        env = {k: v for k, v in os.environ.items() if k.startswith("TUNEFORGE_PARAM_")}
        with open("argv.json", "w", encoding="utf-8") as f:
            json.dump({"argv": sys.argv[1:], "env": env}, f)
        print("val_acc=1")
        """,
        args=tuple(f"${{{name}}}" for name in names) + ("--opt=${semicolon}",),
        params={"lr": 0.1, **HOSTILE},
    )
    outcome, _ = run(spec)
    assert outcome.state is TrialState.COMPLETED, outcome.reason
    seen = json.loads((Path(spec.trial_dir) / "argv.json").read_text(encoding="utf-8"))
    assert seen["argv"] == [HOSTILE[name] for name in names] + ["--opt=a; rm -rf ~"]
    for name, value in HOSTILE.items():
        assert seen["env"][f"TUNEFORGE_PARAM_{name.upper()}"] == value
    folder = Path(spec.trial_dir)
    assert not (folder / "pwned").exists() and not (folder / "pwned2").exists()
    assert not Path("pwned").exists()


# --- templates ----------------------------------------------------------------------------


def test_templates_are_filled_into_the_trial_folder(make_spec: MakeSpec, tmp_path: Path) -> None:
    """A template is filled with params, statics and built-ins and written to its target."""
    template = tmp_path / "config.yaml"
    template.write_text(
        "lr: ${lr}\nopt: ${opt}\nepochs: ${epochs}\nmom: ${momentum:-0}\n"
        "dir: ${trial_dir}\nn: ${trial_number}\njob: ${job_name}\nlit: $${x}\n"
    )
    spec = make_spec(
        "print(open('conf/config.yaml').read().replace('\\n', ' | '))\nprint('val_acc=1')",
        params={"lr": 0.01, "opt": "${lr}; rm -rf ~"},
        static={"epochs": 5},
        templates=(TemplateSpec(str(template), "conf/config.yaml"),),
    )
    outcome, _ = run(spec)
    assert outcome.state is TrialState.COMPLETED, outcome.reason
    assert (Path(spec.trial_dir) / "conf" / "config.yaml").read_text() == (
        f"lr: 0.01\nopt: ${{lr}}; rm -rf ~\nepochs: 5\nmom: 0\ndir: {spec.trial_dir}\nn: 7\n"
        "job: job\nlit: ${x}\n"
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("../escape.txt", "outside the trial folder"),
        ("conf/../../escape.txt", "outside the trial folder"),
        ("/tmp/escape.txt", "relative to the trial folder"),
        ("", "relative to the trial folder"),
        ("params.json", "would overwrite a file tuneforge writes"),
    ],
)
def test_template_targets_must_stay_inside_the_folder(
    make_spec: MakeSpec, tmp_path: Path, target: str, message: str
) -> None:
    """A target outside the trial folder (or on tuneforge's files) fails before anything runs."""
    template = tmp_path / "t.txt"
    template.write_text("x")
    spec = make_spec("open('ran', 'w').close()", templates=(TemplateSpec(str(template), target),))
    outcome, recorder = run(spec)
    assert outcome.state is TrialState.FAILED and message in (outcome.reason or "")
    assert recorder.events == []
    assert not (tmp_path / "escape.txt").exists() and not Path("/tmp/escape.txt").exists()
    assert not (Path(spec.trial_dir) / "ran").exists()


def test_template_with_unknown_placeholder_fails(make_spec: MakeSpec, tmp_path: Path) -> None:
    """A template naming a value the trial lacks fails the trial, naming the template."""
    template = tmp_path / "t.txt"
    template.write_text("m: ${momentum}")
    spec = make_spec("pass", templates=(TemplateSpec(str(template), "t.txt"),))
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED
    assert "t.txt" in (outcome.reason or "") and "${momentum}" in (outcome.reason or "")


def test_missing_template_fails(make_spec: MakeSpec, tmp_path: Path) -> None:
    """A template file that does not exist fails the trial with a clear reason."""
    spec = make_spec("pass", templates=(TemplateSpec(str(tmp_path / "nope"), "t.txt"),))
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED
    assert "cannot read template" in (outcome.reason or "")


# --- the trial folder ---------------------------------------------------------------------


def test_folder_of_an_interrupted_attempt_is_cleared(make_spec: MakeSpec) -> None:
    """A trial folder left by an earlier attempt is emptied before the new one runs."""
    spec = make_spec("print('val_acc=1')")
    folder = Path(spec.trial_dir)
    (folder / "old").mkdir(parents=True)
    (folder / "params.json").write_text("{}")
    (folder / "old" / "checkpoint").write_text("stale")
    (folder / "trial.log").write_text("old log\n")
    outcome, _ = run(spec)
    assert outcome.state is TrialState.COMPLETED
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.jsonl", "params.json", "trial.log"]
    assert (folder / "trial.log").read_text() == "val_acc=1\n"


def test_foreign_folder_is_not_cleared(make_spec: MakeSpec) -> None:
    """A non-empty folder without params.json is not tuneforge's: the trial fails, files stay."""
    spec = make_spec("print('val_acc=1')")
    folder = Path(spec.trial_dir)
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("precious")
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED
    assert "no params.json" in (outcome.reason or "")
    assert (folder / "thesis.tex").read_text() == "precious"


def test_missing_workdir_fails(make_spec: MakeSpec) -> None:
    """A working directory that does not exist fails the trial with a reason naming it."""
    spec = make_spec("pass", workdir="${trial_dir}/nope")
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED
    assert outcome.reason == (
        f"working directory '{spec.trial_dir}/nope' does not exist or is not a folder."
    )


def test_run_spec_is_picklable(make_spec: MakeSpec, tmp_path: Path) -> None:
    """A RunSpec survives pickling, so it can be shipped to a remote worker."""
    spec = make_spec(
        "pass", params={"lr": 0.1}, templates=(TemplateSpec(str(tmp_path / "t"), "t"),)
    )
    assert pickle.loads(pickle.dumps(spec)) == spec


# --- failures -----------------------------------------------------------------------------


def test_non_zero_exit_fails_with_the_code_and_tail(make_spec: MakeSpec) -> None:
    """A non-zero exit fails the trial with `exit code N` and the log tail."""
    spec = make_spec(
        """
        import sys
        for i in range(30):
            print("line", i)
        print("val_acc=0.9")
        print("boom", file=sys.stderr)
        sys.exit(3)
        """
    )
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED and outcome.reason == "exit code 3"
    tail = (outcome.log_tail or "").splitlines()
    assert len(tail) == 20 and tail[-1] == "boom" and tail[0] == "line 12"
    assert outcome.metrics == {"val_acc": 0.9} and outcome.value is None


def test_death_by_signal_is_named(make_spec: MakeSpec) -> None:
    """A script killed by a signal fails with the signal's name."""
    spec = make_spec("import os, signal\nprint('val_acc=1')\nos.kill(os.getpid(), signal.SIGKILL)")
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED and outcome.reason == "killed by signal SIGKILL"


def test_missing_objective_fails(make_spec: MakeSpec) -> None:
    """A script that never reports the objective fails with that reason."""
    spec = make_spec("print('loss\\t0.5')\nprint('done')")
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED
    assert outcome.reason == "objective 'val_acc' was never reported"
    assert outcome.log_tail == "loss\t0.5\ndone" and outcome.metrics == {"loss": 0.5}


@pytest.mark.parametrize(("printed", "shown"), [("nan", "nan"), ("-inf", "-inf")])
def test_non_finite_objective_fails(make_spec: MakeSpec, printed: str, shown: str) -> None:
    """A NaN or infinite final objective fails the trial."""
    spec = make_spec(f"print('val_acc=0.5')\nprint('val_acc={printed}')")
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED
    assert outcome.reason == f"objective 'val_acc' is {shown}"


def test_command_not_found_fails_without_raising(make_spec: MakeSpec) -> None:
    """A program that does not exist fails the trial with the OS's reason; nothing starts."""
    spec = make_spec("pass", command=("pythn-no-such-program", "x"))
    outcome, recorder = run(spec)
    assert outcome.state is TrialState.FAILED
    assert outcome.reason == "could not start 'pythn-no-such-program': No such file or directory"
    assert "No such file or directory" in (outcome.log_tail or "")
    assert recorder.events == []


def test_value_with_a_nul_byte_fails_without_raising(make_spec: MakeSpec) -> None:
    """A value no argv item can hold (a NUL byte) fails the trial instead of raising."""
    spec = make_spec("pass", args=("${v}",), params={"v": "a\x00b"})
    outcome, recorder = run(spec)
    assert outcome.state is TrialState.FAILED and recorder.events == []
    assert outcome.reason == f"could not start {sys.executable!r}: embedded null byte"


def test_unknown_placeholder_in_command_fails(make_spec: MakeSpec) -> None:
    """A command placeholder without a value fails the trial with the placeholder named."""
    spec = make_spec("pass", args=("--m=${momentum}",))
    outcome, _ = run(spec)
    assert outcome.state is TrialState.FAILED and "${momentum}" in (outcome.reason or "")


# --- timeouts, stops and process groups -------------------------------------------------


def test_timeout_kills_the_whole_group(make_spec: MakeSpec) -> None:
    """On timeout the script and the child it started are ended; the trial fails."""
    spec = make_spec(SPAWN_CHILD + "    time.sleep(1000)\n", timeout=1.5)
    started = time.monotonic()
    outcome, _ = run(spec)
    assert time.monotonic() - started < 4
    assert outcome.state is TrialState.FAILED and outcome.reason == "timed out after 1.5s"
    assert gone(child_pid(outcome))


def test_timeout_escalates_to_sigkill(make_spec: MakeSpec) -> None:
    """A script ignoring SIGTERM is killed after the grace period."""
    spec = make_spec(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring", flush=True)
        time.sleep(1000)
        """,
        timeout=0.5,
        stop_grace=0.3,
    )
    started = time.monotonic()
    outcome, _ = run(spec)
    assert time.monotonic() - started < 3
    assert outcome.state is TrialState.FAILED and outcome.reason == "timed out after 0.5s"
    assert outcome.log_tail == "ignoring"


def test_children_left_after_exit_are_killed(make_spec: MakeSpec) -> None:
    """A child still running when the script exits is killed, and the trial still completes."""
    spec = make_spec(SPAWN_CHILD + "    print('val_acc=0.5')\n")
    started = time.monotonic()
    outcome, _ = run(spec)
    assert time.monotonic() - started < 3
    assert outcome.state is TrialState.COMPLETED and outcome.value == 0.5
    assert gone(child_pid(outcome))


def test_escaped_process_holding_the_output_does_not_hang(make_spec: MakeSpec) -> None:
    """A child that left the process group and keeps stdout open cannot block the runner."""
    spec = make_spec(
        """
        import subprocess
        child = subprocess.Popen(["sleep", "5"], start_new_session=True)
        print("child", child.pid)
        print("val_acc=0.5")
        """
    )
    started = time.monotonic()
    outcome, _ = run(spec)
    try:
        assert time.monotonic() - started < 3
        assert outcome.state is TrialState.COMPLETED
        # It carries the trial's environment, so the runner ends it too.
        assert gone(child_pid(outcome))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid(outcome), signal.SIGKILL)


@pytest.mark.parametrize(
    ("state", "reason"),
    [(TrialState.STOPPED, "stopped by the median rule"), (TrialState.INTERRUPTED, "Ctrl-C")],
)
def test_stop_signal_ends_the_trial_with_its_state(
    make_spec: MakeSpec, state: TrialState, reason: str
) -> None:
    """A stop requested from another thread ends the group; the outcome has its state and reason."""
    stop = StopSignal()

    def hook(event: TrialEvent) -> None:
        if isinstance(event, MetricObserved):
            threading.Timer(0.05, stop.request, (reason, state)).start()

    spec = make_spec(SPAWN_CHILD + "    print('val_acc=0.25', flush=True)\n    time.sleep(1000)\n")
    recorder = Recorder(hook)
    started = time.monotonic()
    outcome = run_trial(spec, recorder, stop)
    assert time.monotonic() - started < 4
    assert (outcome.state, outcome.reason) == (state, reason)
    assert outcome.value == 0.25 and outcome.metrics == {"val_acc": 0.25}
    assert gone(child_pid(outcome))


def test_stop_before_start_runs_nothing(make_spec: MakeSpec) -> None:
    """A trial stopped before it starts never runs its command."""
    stop = StopSignal()
    stop.request("job stopped")
    spec = make_spec("open('ran', 'w').close()")
    outcome, recorder = run(spec, stop)
    assert (outcome.state, outcome.reason) == (TrialState.STOPPED, "job stopped")
    assert recorder.events == [] and not (Path(spec.trial_dir) / "ran").exists()


def test_observations_are_emitted_while_the_script_runs(make_spec: MakeSpec) -> None:
    """A metric is emitted as soon as it is printed, not when the process ends."""
    running_when_seen: list[bool] = []
    pid: list[int] = []

    def hook(event: TrialEvent) -> None:
        if isinstance(event, TrialStarted):
            pid.append(event.pid or 0)
        elif isinstance(event, MetricObserved):
            # WNOWAIT: look without reaping, which is the runner's job.
            status = os.waitid(os.P_PID, pid[0], os.WEXITED | os.WNOHANG | os.WNOWAIT)
            running_when_seen.append(status is None)

    spec = make_spec(
        """
        import time
        print("val_acc=0.1")
        time.sleep(0.6)
        print("val_acc=0.2")
        """
    )
    outcome = run_trial(spec, Recorder(hook), StopSignal())
    assert outcome.state is TrialState.COMPLETED and outcome.value == 0.2
    assert running_when_seen[0] is True

"""The ``tuneforge`` command: parse arguments, build objects, call the rest, print results.

Every ``TuneforgeError`` is printed as ``error: <message>`` on stderr with exit code 2
for bad input (``ConfigError``) and 1 for anything else; no traceback reaches the user.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as ProgressBar
from rich.table import Table

from tuneforge.controller import Progress
from tuneforge.errors import (
    ConfigError,
    NotFoundError,
    StorageError,
    TuneforgeError,
)
from tuneforge.jobfile import JobSpec, job_from_document, load_job_file
from tuneforge.launch import launch_job
from tuneforge.results.export import archive_job, export_trials, to_csv_text, to_json_text
from tuneforge.results.table import best_trial, sort_frame, trials_frame
from tuneforge.space import SearchSpace, load_space_file
from tuneforge.steering import request_stop
from tuneforge.storage import JobBusyError, JobRecord, JobState, Storage, default_storage_url
from tuneforge.storage.queries import DashboardQueries
from tuneforge.trial import OnInterrupt, Trial, TrialState

app = typer.Typer(
    name="tuneforge",
    help="Hyperparameter tuning jobs for any training command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        envvar="TUNEFORGE_STORAGE",
        show_envvar=True,
        help="Database URL (default: sqlite:///tuneforge.db in the current folder).",
    ),
]
JobArgument = Annotated[str, typer.Argument(help="The job's name.", show_default=False)]


def _stdout() -> Console:
    # Piped output has no terminal width; give tables room rather than folding every cell.
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    _stderr().print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn tuneforge's own errors into one-line messages and exit codes."""
    try:
        yield
    except ConfigError as exc:
        lines = exc.problems
        if len(lines) > 1:
            fail(f"{len(lines)} problems:\n  " + "\n  ".join(lines), 2)
        fail(str(exc), 2)
    except TuneforgeError as exc:
        fail(str(exc), 1)


def open_storage(url: str | None) -> Storage:
    return Storage(url or default_storage_url())


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return f"{value:.4g}"
    return str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


# -- run ----------------------------------------------------------------------------------
class LiveView:
    """Rich progress for a running job: a bar of trials, the running ones, the best so far."""

    def __init__(self, console: Console, spec: JobSpec) -> None:
        self.console = console
        self.spec = spec
        self.bar = ProgressBar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        )
        self.task = self.bar.add_task(spec.name, total=spec.limits.max_trials, status="")

    def __enter__(self) -> LiveView:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def update(self, progress: Progress) -> None:
        for trial in progress.finished:
            self.console.print(self._line(trial), highlight=False)
        best = progress.best
        best_text = f"best {_fmt(best.value)} (trial {best.number})" if best else "best -"
        running = ", ".join(str(n) for n in progress.running) or "-"
        status = (
            f"running [{running}]  {best_text}  failed {progress.n_failed}  "
            f"stopped early {progress.n_stopped_early}"
        )
        self.bar.update(self.task, completed=progress.n_done, status=status)

    def _line(self, trial: Trial) -> str:
        params = " ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
        colour = {"completed": "green", "failed": "red"}.get(trial.state.value, "yellow")
        text = f"trial {trial.number:>3} [{colour}]{trial.state.value:<9}[/]"
        if trial.state is TrialState.COMPLETED:
            text += f" {self.spec.objective.metric}={_fmt(trial.value)}"
        elif trial.reason:
            text += f" {escape(trial.reason)}"
        return f"{text}  [dim]{escape(params)}[/]"


@contextmanager
def _interrupt_on_termination() -> Iterator[None]:
    """SIGTERM and SIGHUP (a service stopping, a closed terminal) end the job like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def execute_job(
    spec: JobSpec, storage: Storage, *, resume: bool, job_file: str | None, join: bool = False
) -> None:
    """Create (or resume) the job in storage and run it with live progress.

    ``join`` runs it beside the job's other controllers (``--join``): the job is created if it
    is new and joined if not, and each new trial is claimed through storage.
    """
    console = _stdout()
    view = LiveView(console, spec)
    launched = launch_job(spec, storage, resume=resume, join=join, on_progress=view.update)
    if launched.resumed:
        console.print(f"Resuming job [bold]{spec.name}[/] ({storage.url})")
    else:
        console.print(
            f"Job [bold]{spec.name}[/]: {spec.strategy} search, {spec.limits.max_trials} trials, "
            f"{spec.limits.max_parallel} at a time, {spec.objective.direction} "
            f"{spec.objective.metric}. Trial folders in {launched.output_dir}"
        )
    choice = getattr(launched.controller.strategy, "choice", None)  # what "auto" picked
    if choice:
        reason = getattr(launched.controller.strategy, "reason", "")
        console.print(f"Strategy auto: {choice} ({reason})")
    resume_hint = (
        f"tuneforge run {job_file} --resume" if job_file else f"tuneforge resume {spec.name}"
    )
    with view, _interrupt_on_termination():
        try:
            state = launched.controller.run()
        except KeyboardInterrupt:
            view.bar.stop()
            then = (
                "will run again on resume"
                if spec.on_interrupt == OnInterrupt.RERUN
                else "stay interrupted (on_interrupt: mark); resume runs new trials"
            )
            console.print(
                f"\n[yellow]Interrupted.[/] Running trials were ended and {then}:\n  {resume_hint}"
            )
            raise typer.Exit(130) from None
        except JobBusyError:
            raise
        except StorageError as exc:
            raise StorageError(f"{exc} To resume: {resume_hint}") from exc
    record = storage.get_job(spec.name)
    _print_summary(console, storage, record, state)


def _print_summary(console: Console, storage: Storage, record: JobRecord, state: JobState) -> None:
    trials = storage.trials(record.name)
    counts = {s: sum(1 for t in trials if t.state is s) for s in TrialState}
    console.print(
        f"\nJob [bold]{record.name}[/] {state.value}: {record.reason or ''} — "
        f"{counts[TrialState.COMPLETED]} completed, {counts[TrialState.FAILED]} failed, "
        f"{counts[TrialState.STOPPED_EARLY]} stopped early, {counts[TrialState.STOPPED]} stopped."
    )
    best = best_trial(trials, record.direction)
    if best is None:
        console.print("[red]No trial completed.[/] See `tuneforge trials` and `tuneforge logs`.")
        return
    frame = sort_frame(trials_frame(trials), "value", record.direction)
    frame = frame[frame["state"] == TrialState.COMPLETED.value].drop(columns=["state", "reason"])
    console.print(_trials_table(frame.head(10), record.objective, title="Best trials"))
    console.print(
        f"Best: trial {best.number}, {record.objective} = {_fmt(best.value)}\n"
        f"  params: {json.dumps(dict(best.params))}\n  folder: {best.trial_dir}"
    )


def _trials_table(frame: Any, objective: str, title: str | None = None) -> Table:
    """A Rich table of a trials frame; the objective's metric column is shown as ``value``."""
    table = Table(title=title)
    hidden = {"trial_dir", "started_at", "finished_at", f"metrics.{objective}"}
    if "continues" in frame.columns and frame["continues"].isna().all():
        hidden.add("continues")  # shown only for jobs whose trials continue others
    columns = [c for c in frame.columns if c not in hidden]
    for column in columns:
        label = column.split(".", 1)[1] if column.startswith(("params.", "metrics.")) else column
        table.add_column(
            label,
            no_wrap=column != "reason",
            overflow="fold" if column == "reason" else "ellipsis",
            justify="right" if column in ("number", "value") else "left",
        )
    for _, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if isinstance(value, np.generic):
                value = value.item()
            if column == "duration":
                cells.append(_duration(None if value != value else value))
            elif column == "reason" and isinstance(value, str):
                cells.append(escape(value[:60]))
            else:
                cells.append(escape(_fmt(None if value is pd.NA else value)))
        table.add_row(*cells)
    return table


@app.command()
def run(
    job_file: Annotated[Path, typer.Argument(help="The job file (YAML).", show_default=False)],
    storage: StorageOption = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the job if it exists.")
    ] = False,
    join: Annotated[
        bool,
        typer.Option(
            "--join",
            help="Run beside the job's other controllers (other terminals or machines, one "
            "storage): create the job if new, join it if not; each trial runs once.",
        ),
    ] = False,
) -> None:
    """Run a tuning job: trials of the job's command, with live progress."""
    with friendly_errors():
        spec = load_job_file(job_file)
        store = Storage(storage or spec.storage or default_storage_url())
        execute_job(spec, store, resume=resume, job_file=str(job_file), join=join)


@app.command()
def resume(job: JobArgument, storage: StorageOption = None) -> None:
    """Continue a stopped, interrupted or unfinished job from its stored job file."""
    with friendly_errors():
        store = open_storage(storage)
        record = store.get_job(job)
        if record.document.get("source") == "tuneforge.optimize":
            raise ConfigError(
                f"job '{job}' was made by tuneforge.optimize(); resume it from Python with "
                f"optimize(..., job_name='{job}', resume=True)."
            )
        spec = job_from_document(record.document, record.base_dir, source=f"stored job '{job}'")
        execute_job(spec, store, resume=True, job_file=None)


# -- reading results ----------------------------------------------------------------------
@app.command()
def jobs(
    storage: StorageOption = None,
    format: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """List the jobs in the storage."""
    with friendly_errors():
        _check_choice("--format", format, ("table", "csv", "json"))
        store = open_storage(storage)
        rows: list[dict[str, Any]] = []
        # One query per job for its counts and best value, not every trial of every job.
        for summary in DashboardQueries(store).job_summaries():
            record = summary.record
            end = record.finished_at or time.time()
            rows.append(
                {
                    "name": record.name,
                    "state": record.state.value,
                    "strategy": record.strategy,
                    "done": summary.n_done,
                    "max_trials": record.max_trials,
                    "best": summary.best_value,
                    "objective": record.objective,
                    "direction": record.direction,
                    "created": _when(record.created_at),
                    "duration": end - record.created_at,
                }
            )
        if format == "json":
            typer.echo(json.dumps(rows, indent=2))
            return
        if format == "csv":
            typer.echo(pd.DataFrame(rows).to_csv(index=False), nl=False)
            return
        if not rows:
            typer.echo(f"No jobs in {store.url}.")
            return
        table = Table()
        for column in (
            "name",
            "state",
            "strategy",
            "progress",
            "best",
            "objective",
            "created",
            "duration",
        ):
            table.add_column(column)
        for row in rows:
            table.add_row(
                escape(row["name"]),
                row["state"],
                row["strategy"],
                f"{row['done']}/{row['max_trials']}",
                _fmt(row["best"]),
                escape(f"{row['objective']} ({row['direction'][:3]})"),
                row["created"],
                _duration(row["duration"]),
            )
        _stdout().print(table)


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{option}: expected one of {', '.join(choices)}, got {value!r}.")


@app.command()
def trials(
    job: JobArgument,
    storage: StorageOption = None,
    sort: Annotated[
        str | None, typer.Option("--sort", help="value, number, a metric or a parameter")
    ] = None,
    state: Annotated[str | None, typer.Option("--state", help="Only trials in this state.")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    limit: Annotated[int | None, typer.Option("--limit", help="Show at most N rows.")] = None,
    curves: Annotated[
        bool,
        typer.Option(
            "--curves",
            help="The learning curves instead: every reported value, one row per "
            "trial, metric and step (number, state, metric, step, value, time).",
        ),
    ] = False,
) -> None:
    """The table of a job's trials: parameters, metrics, state and timings."""
    with friendly_errors():
        _check_choice("--format", format, ("table", "csv", "json"))
        store = open_storage(storage)
        record = store.get_job(job)
        states = None
        if state is not None:
            try:
                states = [TrialState.parse(state)]
            except ValueError as exc:
                raise ConfigError(f"--state: {exc}") from None
        if curves:
            from tuneforge.results.curves import curves_to_json, read_curves

            if sort is not None:
                raise ConfigError(
                    "--sort: not available with --curves; curves come in trial, metric and "
                    "step order (sort the CSV or JSON output instead)."
                )
            points = read_curves(store, job, states=states)
            if limit is not None:
                points = points.head(limit)
            if format == "csv":
                typer.echo(to_csv_text(points), nl=False)
            elif format == "json":
                typer.echo(curves_to_json(points), nl=False)
            elif points.empty:
                typer.echo(
                    f"Job '{job}' has no reported values{' in state ' + state if state else ''}."
                )
            else:
                grid = Table(title=f"Learning curves of {escape(job)}")
                for column in ("number", "state", "metric", "step", "value"):
                    grid.add_column(
                        column, justify="left" if column in ("state", "metric") else "right"
                    )
                for point in points.itertuples(index=False):
                    grid.add_row(
                        str(point.number),
                        str(point.state),
                        escape(str(point.metric)),
                        str(point.step),
                        _fmt(point.value),
                    )
                _stdout().print(grid)
            return
        frame = trials_frame(store.trials(job, states))
        if sort is not None:
            frame = sort_frame(frame, sort, record.direction)
        if limit is not None:
            frame = frame.head(limit)
        if format == "csv":
            typer.echo(to_csv_text(frame), nl=False)
        elif format == "json":
            typer.echo(to_json_text(frame))
        elif frame.empty:
            typer.echo(f"Job '{job}' has no trials{' in state ' + state if state else ''}.")
        else:
            _stdout().print(_trials_table(frame, record.objective))


@app.command()
def best(
    job: JobArgument,
    storage: StorageOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The best completed trial: its parameters, value and folder."""
    with friendly_errors():
        store = open_storage(storage)
        record = store.get_job(job)
        trial = best_trial(store.trials(job), record.direction)
        if trial is None:
            raise NotFoundError(f"job '{job}' has no completed trial yet.")
        payload = {
            "job": job,
            "number": trial.number,
            "objective": record.objective,
            "direction": record.direction,
            "value": trial.value,
            "params": dict(trial.params),
            "metrics": dict(trial.metrics),
            "trial_dir": trial.trial_dir,
        }
        if as_json:
            typer.echo(json.dumps(payload, indent=2))
            return
        console = _stdout()
        console.print(f"Best trial of [bold]{escape(job)}[/]: {trial.number}")
        console.print(f"  {escape(record.objective)} = {_fmt(trial.value)} ({record.direction})")
        for name, value in trial.params.items():
            console.print(f"  {escape(name)} = {escape(_fmt(value))}", highlight=False)
        for name, value in trial.metrics.items():
            if name != record.objective:
                console.print(f"  [dim]{escape(name)} = {_fmt(value)}[/]", highlight=False)
        console.print(f"  folder: {trial.trial_dir}")


@app.command()
def logs(
    job: JobArgument,
    trial: Annotated[int, typer.Argument(help="The trial's number.", show_default=False)],
    storage: StorageOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
) -> None:
    """Print a trial's log (stdout and stderr of its command)."""
    with friendly_errors():
        store = open_storage(storage)
        record = store.get_trial(job, trial)
        if record.trial_dir is None and not follow:
            typer.echo(f"Trial {trial} of '{job}' has not started yet; no log.")
            return
        position = 0
        while True:
            record = store.get_trial(job, trial)
            path = Path(record.trial_dir) / "trial.log" if record.trial_dir else None
            if path is not None and path.exists():
                with path.open("rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                    position += len(chunk)
                sys.stdout.write(chunk.decode("utf-8", errors="replace"))
                sys.stdout.flush()
            if not follow or not record.state.is_active():
                break
            time.sleep(0.5)


@app.command()
def stop(
    job: JobArgument,
    trial: Annotated[int | None, typer.Option("--trial", help="Stop only this trial.")] = None,
    storage: StorageOption = None,
) -> None:
    """Stop a running job (or one of its trials) from any terminal."""
    with friendly_errors():
        request_stop(open_storage(storage), job, trial, field="--trial")
        what = f"trial {trial} of job '{job}'" if trial is not None else f"job '{job}'"
        typer.echo(f"Stop requested for {what}; its controller ends it within a second.")


@app.command()
def export(
    job: JobArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    storage: StorageOption = None,
) -> None:
    """Write a job's trials (parameters, metrics, states, timings) to CSV or JSON."""
    with friendly_errors():
        _check_choice("--format", format, ("csv", "json"))
        store = open_storage(storage)
        store.get_job(job)
        frame = trials_frame(store.trials(job))
        export_trials(frame, output, format)
        typer.echo(f"Wrote {len(frame)} trials to {output}")


@app.command()
def archive(
    job: JobArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="The zip file to write.")],
    best_only: Annotated[
        bool, typer.Option("--best", help="Only the best trial's folder.")
    ] = False,
    storage: StorageOption = None,
) -> None:
    """Zip the job's trial folders (logs, params, metrics, model files) with a trials.csv."""
    with friendly_errors():
        store = open_storage(storage)
        record = store.get_job(job)
        n_files, chosen = archive_job(record, store.trials(job), output, best_only=best_only)
        typer.echo(f"Wrote {n_files} files from {len(chosen)} trial folder(s) to {output}")


# -- spaces -------------------------------------------------------------------------------
def _load_any_space(path: Path) -> SearchSpace:
    if path.suffix.lower() in (".yaml", ".yml") and path.exists():
        import yaml

        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            document = None
        if isinstance(document, dict) and "command" in document:
            return load_job_file(path).space
    return load_space_file(path)


@app.command()
def space(
    file: Annotated[Path, typer.Argument(help="A job file, a PCS file or ParameterRanges JSON.")],
    sample: Annotated[int, typer.Option("--sample", help="Print N sampled configurations.")] = 0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for the samples.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a parsed search space and sample valid configurations from it."""
    with friendly_errors():
        if sample < 0:
            raise ConfigError(f"--sample: must be >= 0, got {sample}.")
        parsed = _load_any_space(file)
        rng = np.random.default_rng(seed)
        samples = [parsed.sample(rng) for _ in range(sample)]
        if as_json:
            typer.echo(json.dumps({**parsed.to_dict(), "samples": samples}, indent=2, default=str))
            return
        console = _stdout()
        table = Table(title=f"{len(parsed)} parameters")
        for column in ("name", "type", "range / values", "default", "active when"):
            table.add_column(column, overflow="fold")
        for name, parameter in parsed.parameters.items():
            info = parameter.to_dict()
            if "values" in info:
                span = ", ".join(str(v) for v in info["values"])
            else:
                span = f"[{info['low']}, {info['high']}]" + (" log" if info.get("log") else "")
            table.add_row(
                escape(name),
                info["type"],
                escape(span),
                escape(_fmt(info.get("default"))),
                escape(str(info.get("when", ""))),
            )
        console.print(table)
        if parsed.static:
            console.print(f"static: {escape(json.dumps(parsed.static, default=str))}")
        for clause in parsed.forbidden:
            console.print(f"forbidden: {escape(clause.describe())}")
        for i, config in enumerate(samples):
            console.print(f"sample {i}: {escape(json.dumps(config, default=str))}", highlight=False)


# -- dashboard ----------------------------------------------------------------------------
@app.command()
def serve(
    storage: StorageOption = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (non-loopback needs --token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="TUNEFORGE_TOKEN",
            show_envvar=True,
            help="Token for actions (stop, create); generated and printed if not given.",
        ),
    ] = None,
) -> None:
    """The dashboard and JSON API: watch, compare and steer jobs in a browser."""
    with friendly_errors():
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port: expected a port number from 0 to 65535, got {port}.")
        import uvicorn

        from tuneforge.server import create_app, is_loopback, new_token

        loopback = is_loopback(host)
        if not loopback and not token:
            raise ConfigError(
                f"--host: {host!r} is not a loopback address, so other machines can connect; "
                "give a token with --token or $TUNEFORGE_TOKEN (every request will need it)."
            )
        token = token or new_token()
        store = open_storage(storage)
        application = create_app(
            store,
            token=token,
            reads_need_token=not loopback,
            allowed_hosts=(host, "localhost", "127.0.0.1", "::1") if loopback else None,
        )
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"tuneforge dashboard for {store!r}")
        typer.echo(f"  open  http://{shown}:{port}/?token={token}")
        typer.echo(f"  API   http://{shown}:{port}/api/  (schema: /api/openapi.json)")
        typer.echo("Actions (stop, create) need the token: the link above sets it in the browser.")
        uvicorn.run(
            application, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3
        )


def main() -> None:
    """Console entry point."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


if __name__ == "__main__":
    main()

"""hpcflow: run, submit, watch and restart workflows; drive them from a daemon or cron.

Library errors become one line and exit status 2 here, in one place (``main``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import typer

from hpcflow.cli import views
from hpcflow.cli.cache import cache_app
from hpcflow.errors import HpcflowError
from hpcflow.states import FINAL_STATUSES

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
daemon_app = typer.Typer(help="Run the engine in the background on the login node.", no_args_is_help=True)
site_app = typer.Typer(help="Inspect the site configuration and the cluster.", no_args_is_help=True)
artifacts_app = typer.Typer(help="Fetch artifacts of finished steps.", no_args_is_help=True)
app.add_typer(daemon_app, name="daemon")
app.add_typer(site_app, name="site")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(cache_app, name="cache")

console = views.make_console()


@app.callback()
def _options(
    site: str | None = typer.Option(None, "--site", help="Site configuration file (default: $HPCFLOW_SITE, then ~/.config/hpcflow/site.toml, then local mode)."),
    home: Path | None = typer.Option(None, "--home", help="Where the state store lives (default: $HPCFLOW_HOME or ~/.hpcflow)."),
) -> None:
    from hpcflow import settings

    settings.use(settings.Settings.resolve(site=site, home=home))


def _client() -> Any:
    """A Client or a RemoteClient: the CLI uses the surface they share."""
    from hpcflow.client import get_client

    return get_client()


def _remote(client: Any) -> bool:
    """A remote site: the store and the engine are on the login node."""
    return bool(getattr(client, "remote", False))


def _drive_with_progress(client: Any, wf_ids: list[str]) -> dict[str, str]:
    """Drive workflows to the end, showing one live progress line per workflow (for a
    remote site: watch them, two remote calls every few seconds)."""
    from rich.live import Live

    statuses: dict[str, str] = {}
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        for wf_id in wf_ids:
            while True:
                status = client.wait(wf_id, timeout=0.5)
                nodes = client.store.load_nodes(wf_id)
                live.update(f"[bold]{wf_id}[/] {status}  {views.progress_line(nodes)}")
                if status in FINAL_STATUSES:
                    statuses[wf_id] = status
                    break
                if _remote(client):
                    time.sleep(3.0)
    console.print()
    return statuses


@app.command()
def run(
    script: Path = typer.Argument(..., help="A Python file that builds and submits workflows."),
    args: list[str] | None = typer.Argument(None, help="Arguments passed to the script."),
) -> None:
    """Run a workflow script in the foreground with a live progress view; exit 1 if it fails."""
    from hpcflow.cli.scripts import run_script

    client = _client()
    ids = run_script(script, args or [], submit_only=False)
    if not ids:
        console.print("[yellow]the script submitted no workflow[/]")
        return
    statuses = _drive_with_progress(client, ids)
    for wf_id, status in statuses.items():
        wf = client.store.get_workflow(wf_id)
        msg = f" — {wf['message']}" if wf.get("message") and status != "Succeeded" else ""
        console.print(f"{wf_id}: [{views.PHASE_STYLE.get(status, '')}]{status}[/]{msg}")
    if any(s != "Succeeded" for s in statuses.values()):
        raise typer.Exit(1)


@app.command()
def submit(
    script: Path = typer.Argument(..., help="A Python file that builds and submits workflows."),
    args: list[str] | None = typer.Argument(None, help="Arguments passed to the script."),
) -> None:
    """Register the script's workflows and return at once; the daemon or cron runs them."""
    from hpcflow.cli.scripts import run_script

    for wf_id in run_script(script, args or [], submit_only=True):
        console.print(wf_id)


@app.command("list")
def list_(status: str | None = typer.Option(None, help="Only workflows with this status."),
          limit: int = typer.Option(50, help="At most this many, newest first."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List workflows in the store."""
    rows = _client().store.list_workflows(status=status, limit=limit)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        console.print(views.workflows_table(rows))


@app.command()
def show(workflow: str = typer.Argument(..., help="Workflow id or name."),
         as_json: bool = typer.Option(False, "--json", help="Print the steps as JSON.")) -> None:
    """Show a workflow's step tree: phase, key, attempts, duration."""
    store = _client().store
    wf = store.get_workflow(workflow)
    nodes = store.load_nodes(wf["id"])
    attempts = store.attempts(wf["id"])
    ran_on = views.where_units_ran(wf, attempts)
    if as_json:
        out = {k: wf[k] for k in ("id", "name", "status", "message", "created_at", "finished_at")}
        out["steps"] = [{k: n[k] for k in ("path", "name", "type", "phase", "key", "attempts",
                                             "message", "started_at", "finished_at")}
                        | {"ran_on": ran_on.get(n["path"]),
                           "outputs": views.decoded_outputs(n["outputs"]),
                           "cached": (n.get("data") or {}).get("cached")} for n in nodes]
        print(json.dumps(out, indent=2, default=str))
    else:
        console.print(views.step_tree(wf, nodes, ran_on=ran_on,
                                      withdrawn=views.withdrawn_attempts(attempts)))


def _find_node(store: Any, wf_id: str, step: str) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = store.load_nodes(wf_id)
    for field in ("path", "name", "key"):
        found = [n for n in nodes if n[field] == step]
        if found:
            return found[0]
    raise HpcflowError(f"workflow {wf_id} has no step {step!r} (give a path from `hpcflow show`, a name or a key)")


@app.command()
def logs(workflow: str = typer.Argument(..., help="Workflow id or name."),
         step: str = typer.Argument(..., help="Step path (from `hpcflow show`), name or key."),
         attempt: int | None = typer.Option(None, help="Attempt number (default: the last).")) -> None:
    """Print the log of a step's attempt (the OP's stdout and stderr)."""
    store = _client().store
    wf = store.get_workflow(workflow)
    node = _find_node(store, wf["id"], step)
    atts = [a for a in store.attempts(wf["id"]) if a["node_path"] == node["path"]]
    if not atts:
        raise HpcflowError(f"step {step!r} has no attempts (type {node['type']}, phase {node['phase']})")
    chosen = atts[-1] if attempt is None else next((a for a in atts if a["number"] == attempt), None)
    if chosen is None:
        raise HpcflowError(f"step {step!r} has no attempt {attempt}")
    client = _client()
    if _remote(client):
        log_file: Path | str = Path(chosen["dir"]) / "log.txt"
        text = client.read_log(wf["id"], chosen["dir"])
    else:
        from hpcflow.runtime.records import read_unit_log

        found = read_unit_log(Path(chosen["dir"]))  # its own log, or its part of the job's
        log_file, text = found if found is not None else (Path(chosen["dir"]) / "log.txt", None)
    console.print(f"[dim]# {node['path']} attempt {chosen['number']} ({chosen['status']}) {log_file}[/]")
    sys.stdout.write(text if text is not None else "(no log yet)\n")


@app.command()
def cancel(workflow: str = typer.Argument(..., help="Workflow id or name.")) -> None:
    """Cancel a workflow: its running jobs are cancelled (scancel) and it is marked failed."""
    client = _client()
    wf = client.store.get_workflow(workflow)
    if wf["status"] not in ("Pending", "Running"):
        raise HpcflowError(f"workflow {wf['id']} is already {wf['status']}")
    if _remote(client):
        n = client.cancel(wf["id"])
    else:
        with client.lock:
            n = client.engine(only={wf["id"]}).cancel(wf["id"])
    console.print(f"cancelled {wf['id']} ({n} job(s))")


@app.command()
def retry(workflow: str = typer.Argument(..., help="Workflow id or name."),
          wait: bool = typer.Option(True, help="Drive the workflow to the end in the foreground.")) -> None:
    """Rerun only the failed steps of a failed workflow, in place."""
    from hpcflow.engine.engine import reset_failed

    client = _client()
    wf = client.store.get_workflow(workflow)
    if wf["status"] != "Failed":
        raise HpcflowError(f"workflow {wf['id']} is {wf['status']}; only failed workflows can be retried")
    if _remote(client):
        n = client.retry(wf["id"])
    else:
        with client.lock:
            n = reset_failed(client.store, wf["id"])
    console.print(f"retrying {n} failed step(s) of {wf['id']}")
    if wait:
        status = _drive_with_progress(client, [wf["id"]])[wf["id"]]
        console.print(f"{wf['id']}: {status}")
        if status != "Succeeded":
            raise typer.Exit(1)


@app.command()
def outputs(workflow: str = typer.Argument(..., help="Workflow id or name."),
            step: str | None = typer.Option(None, help="A step instead of the whole workflow.")) -> None:
    """Print the outputs of a workflow (its entry template) or of one step, as JSON."""
    store = _client().store
    wf = store.get_workflow(workflow)
    node = _find_node(store, wf["id"], step if step is not None else "")
    if step is None:
        result = {"workflow": wf["id"], "status": wf["status"], "outputs": views.decoded_outputs(node["outputs"]),
                  "steps": {n["name"]: views.decoded_outputs(n["outputs"])
                            for n in store.load_nodes(wf["id"]) if n["parent"] == "" and n["outputs"]}}
    else:
        result = {"step": node["path"], "phase": node["phase"], "outputs": views.decoded_outputs(node["outputs"])}
    print(json.dumps(result, indent=2, default=str))


@app.command()
def tick() -> None:
    """One engine pass over all active workflows (for cron; skips while a daemon runs)."""
    from hpcflow.daemon import daemon_pid

    client = _client()
    if _remote(client):
        raise HpcflowError(f"site {client.site_name} is a remote site: its login node's daemon or "
                           "cron ticks (run `hpcflow daemon start` with this site)")
    pid = daemon_pid(client.store.path.parent)
    if pid is not None:
        console.print(f"skipped: the daemon (pid {pid}) drives the workflows")
        return
    report = client.tick_once(wait_lock=0)
    if report is None:
        console.print("skipped: another tick is running")
        return
    console.print(f"active {report.active_workflows}, launched {report.launched}, "
                  f"finished {report.finished_units}, in flight {report.inflight}")


@app.command()
def ui(port: int | None = typer.Option(None, "--port", help="Listen on 127.0.0.1:PORT (0: any free port) instead of a private Unix socket."),
       socket_path: Path | None = typer.Option(None, "--socket", help="Unix socket path (default: $HPCFLOW_HOME/ui/ui.sock, mode 0600)."),
       allow_actions: bool = typer.Option(False, "--allow-actions", help="Offer cancel and retry buttons (each POST needs the page's CSRF token)."),
       local_port: int = typer.Option(8080, "--local-port", help="The laptop port the printed ssh -L line forwards.")) -> None:
    """Serve a read-only web dashboard of the store (needs the extra: pip install 'hpcflow[ui]')."""
    from hpcflow.store.db import default_home
    from hpcflow.ui import require_web_stack

    require_web_stack()
    from hpcflow.ui.server import ServeOptions, serve

    serve(ServeOptions(default_home() / "hpcflow.db", port=port, socket_path=socket_path,
                       allow_actions=allow_actions, local_port=local_port), sys.stdout)


@daemon_app.command("start")
def daemon_start() -> None:
    """Start the daemon detached (one per user and store); logs go to STORE_DIR/daemon.log."""
    from hpcflow import daemon

    client = _client()
    if _remote(client):
        answer = client.daemon("start")
        console.print(f"{'already running' if answer['already'] else 'started'} on {client.site_name} "
                      f"(pid {answer['pid']})")
        return
    store_dir = client.store.path.parent
    pid = daemon.daemon_pid(store_dir)
    if pid is not None:
        console.print(f"already running (pid {pid})")
        return
    from hpcflow.settings import current

    pid = daemon.start_detached(store_dir, current().as_cli_options())
    console.print(f"started daemon pid {pid}; log: {daemon.daemon_paths(store_dir)['log']}")


@daemon_app.command("stop")
def daemon_stop() -> None:
    """Stop the daemon (running jobs keep running and are adopted by the next one)."""
    from hpcflow import daemon

    client = _client()
    if _remote(client):
        stopped = client.daemon("stop")["stopped"]
    else:
        stopped = daemon.stop(client.store.path.parent)
    console.print("stopped" if stopped else "no daemon was running")


@daemon_app.command("status")
def daemon_status() -> None:
    """Say whether the daemon runs, with its pid and last heartbeat."""
    from hpcflow import daemon

    client = _client()
    if _remote(client):
        pid = client.daemon("status")["pid"]
        console.print(f"running on {client.site_name}: pid {pid}" if pid else "not running")
        if not pid:
            raise typer.Exit(3)
        return
    pid = daemon.daemon_pid(client.store.path.parent)
    info = client.store.daemon_info() or {}
    if pid is None:
        console.print("not running")
        raise typer.Exit(3)
    beat = info.get("heartbeat")
    age = f"{time.time() - beat:.0f}s ago" if beat else "never"
    console.print(f"running: pid {pid}, host {info.get('host')}, heartbeat {age}")


@daemon_app.command("run")
def daemon_run(interval: float = typer.Option(1.0, help="Shortest pause between ticks (s).")) -> None:
    """Run the daemon loop in the foreground (what `daemon start` runs detached)."""
    from hpcflow import daemon

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    daemon.run_forever(_client(), min_interval=interval)


@site_app.command("check")
def site_check() -> None:
    """Probe the cluster the site configuration describes and print what was found."""
    from hpcflow.site import check_site, resolve_site

    site = resolve_site()
    if site.ssh is not None:
        from hpcflow.site.ssh_check import check_ssh_site
        from hpcflow.store.db import default_home

        report = check_ssh_site(site, default_home())
    else:
        from hpcflow.transport import LocalTransport

        report = check_site(site, LocalTransport())
    print(report.render())
    if not report.ok:
        raise typer.Exit(1)


@site_app.command("show")
def site_show() -> None:
    """Print the site configuration in effect (after defaults)."""
    from hpcflow.site import resolve_site

    site = resolve_site()
    print(json.dumps(site.model_dump(mode="json"), indent=2))


@app.command()
def login(site: str = typer.Argument(..., help="A site file, or the name of the site in effect (--site, $HPCFLOW_SITE).")) -> None:
    """Open the SSH connection to a site in this terminal (type your password or one-time
    code here); later commands reuse it until it has been idle for control_persist_s."""
    from hpcflow.site import resolve_site
    from hpcflow.store.db import default_home
    from hpcflow.transport.ssh import make_transport

    if Path(site).expanduser().is_file():
        config = resolve_site(site)
    else:
        config = resolve_site()
        if config.name != site:
            raise HpcflowError(f"no site file {site!r}, and the site in effect is {config.name!r}"
                               " (give the site file, or --site FILE)")
    if config.ssh is None:
        raise HpcflowError(f"site {config.name} has no [ssh] table: nothing to log in to")
    transport = make_transport(config.ssh, config.name, default_home())
    transport.connect(interactive=sys.stdin.isatty())
    result = transport.run(["true"], timeout=config.ssh.command_timeout_s)
    if not result.ok:
        raise HpcflowError(f"logged in to {config.name}, but a command failed: {result.describe()}")
    console.print(f"connected to {config.ssh.destination()} (site {config.name}); commands reuse "
                  f"this connection until it has been idle for {config.ssh.control_persist_s} s")


@app.command("remote-api", hidden=False)
def remote_api() -> None:
    """Machine mode for workstations (run over SSH): one JSON request on stdin, one JSON
    answer on stdout; see README, "From your workstation"."""
    from hpcflow.remote.server import main as serve

    serve()


@artifacts_app.command("get")
def artifacts_get(workflow: str = typer.Argument(..., help="Workflow id or name."),
                  step: str = typer.Argument(..., help="Step path, name or key."),
                  name: str = typer.Argument(..., help="Output artifact name."),
                  dest: Path = typer.Option(Path("."), help="Where to put the files.")) -> None:
    """Copy an output artifact of a step to a local directory."""
    from hpcflow.dsl.artifacts import download_artifact

    store = _client().store
    wf = store.get_workflow(workflow)
    node = _find_node(store, wf["id"], step)
    arts = (node["outputs"] or {}).get("artifacts", {})  # a remote site downloads over SSH
    if name not in arts:
        raise HpcflowError(f"step {node['path']!r} has no output artifact {name!r} (has: {', '.join(arts) or 'none'})")
    for path in download_artifact(arts[name], dest):
        print(path)


@app.command("exec")
def exec_(
    command: list[str] | None = typer.Argument(None, help="The command and its arguments (after --)."),
    env: bool = typer.Option(False, "--env", help="Print shell exports that enable the alias instead (eval \"$(hpcflow exec --env)\")."),
) -> None:
    """Run a command with `import dflow` resolving to hpcflow, in it and every process it starts.

    `hpcflow exec -- python wf.py`, `hpcflow exec -- pytest`, `hpcflow exec -- dpgen2 submit in.json`.
    """
    import os
    import shlex
    import shutil

    from hpcflow.compat.alias import ENV_VAR, child_environment

    child_env = child_environment()
    if env:
        for name in (ENV_VAR, "PYTHONPATH"):
            typer.echo(f"export {name}={shlex.quote(child_env[name])}")
        return
    if not command:
        raise HpcflowError("hpcflow exec: give a command to run, e.g. hpcflow exec -- python wf.py")
    program = shutil.which(command[0], path=child_env.get("PATH"))
    if program is None:
        raise HpcflowError(f"hpcflow exec: command not found: {command[0]}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, command, child_env)


def main() -> None:
    """Console entry point: every HpcflowError becomes one line on stderr and exit status 2.

    Usage errors (a missing argument, an unknown command) are left to typer's own
    standalone handling: a usage message and exit status 2. Nothing here names click's
    exception classes, which recent typer releases replace with their own copy.
    """
    try:
        app()
    except HpcflowError as exc:
        print(f"hpcflow: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

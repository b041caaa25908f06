"""``--address``: a sweep and a tournament joining an existing Ray cluster (issue 19).

A real throwaway head (``ray start --head --block``, 2 CPUs) runs in a subprocess of its own, with
token authentication on, as docs/sweeps.md's cluster recipe starts one: ``RAY_AUTH_MODE=token``
and the token in ``RAY_AUTH_TOKEN``. Its environment is isolated (its own HOME, so no
``~/.ray/auth_token`` of this machine counts; its own ``--temp-dir``, so no other Ray here sees
it), and it is stopped by signalling its own process group, never with ``ray stop`` (which stops
every Ray of the machine). The drivers run the CLI in subprocesses with the environment the
recipe gives them; the results must equal the same runs made here without Ray.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from policygrad.cli import main
from policygrad.files import RUN_MARKER
from policygrad.sweep import load_sweep
from policygrad.train import train

pytest.importorskip("ray")

TINY = """seeds = 2
[base]
rounds = 8
batch = 16
iterations = 10
hidden = [8]
context = 1
checkpoint_every = 5
tensorboard = false
[space]
opponent = { grid = ['constant', 'frequency'] }
"""

TOURNAMENT = ["tournament", "--agents", "uniform,markov:order=1", "--opponents", "frequency,cycle", "--rounds", "30", "--seeds", "2", "--json", "--quiet"]


def free_ports(n: int) -> list[int]:
    """``n`` different ports that nothing listens on (bound together, then closed)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def processes_of(pgid: int, mark: str, known: dict[int, str] | None = None) -> dict[int, str]:
    """The live processes in process group ``pgid``, or whose command line names ``mark``, or listed
    in ``known`` (an earlier answer) with the same command line, and all their descendants (Ray's
    workers have process groups and titles of their own): their command lines by pid."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmdline = fh.read().decode(errors="replace").replace("\0", " ")
            with open(f"/proc/{name}/stat") as fh:
                state, ppid, group = fh.read().rpartition(")")[2].split()[:3]
        except OSError:  # gone meanwhile
            continue
        if state != "Z":
            table[int(name)] = (int(ppid), int(group), cmdline)
    known = known or {}
    found = {pid: cmd for pid, (_, group, cmd) in table.items() if group == pgid or mark in cmd or known.get(pid) == cmd}
    while children := {pid: cmd for pid, (ppid, _, cmd) in table.items() if ppid in found and pid not in found}:
        found.update(children)
    return found


def cli(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "policygrad.cli", *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def head():
    """A head of 2 CPUs on a free port; yields (address, env of a driver holding its token)."""
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    root = tempfile.mkdtemp(prefix="pgray", dir="/tmp")  # short: Ray's socket paths under it must stay within 107 bytes
    os.mkdir(os.path.join(root, "home"))
    (port, client_port), token = free_ports(2), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        HOME=os.path.join(root, "home"),
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_USAGE_STATS_ENABLED="0",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",  # stop at once: nothing to drain in a test
    )
    temp_dir = os.path.join(root, "ray")
    cmd = [ray_bin, "start", "--head", "--block", "--port", str(port), "--ray-client-server-port", str(client_port), "--num-cpus", "2", "--temp-dir", temp_dir]
    log = open(os.path.join(root, "head.log"), "w")
    proc = subprocess.Popen(cmd + ["--include-dashboard=false", "--disable-usage-stats"], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        marker, deadline = os.path.join(temp_dir, "ray_current_cluster"), time.monotonic() + 90
        while not os.path.exists(marker) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.path.exists(marker), open(os.path.join(root, "head.log")).read()
        running = " ".join(processes_of(proc.pid, temp_dir).values())
        assert "gcs_server" in running and "raylet" in running  # the search below for leftovers sees the head's processes
        yield f"127.0.0.1:{port}", env
    finally:
        known = processes_of(proc.pid, temp_dir)  # the head's processes and their workers, before the stop
        os.killpg(proc.pid, signal.SIGTERM)  # --block: the head stops the processes it started
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while processes_of(proc.pid, temp_dir, known) and time.monotonic() < deadline:
            time.sleep(0.2)
        stray = processes_of(proc.pid, temp_dir, known)
        for pid in stray:  # this head's own leftovers only
            os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
        assert not stray, f"the head left processes running: {stray}"


def test_a_sweep_on_a_cluster_equals_train_run_one_by_one(tmp_path, head):
    address, env = head
    path, out = tmp_path / "s.toml", tmp_path / "out"
    path.write_text(TINY)
    done = cli(["sweep", str(path), "--address", address, "--out", str(out), "--quiet"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["counts"] == {"done": 4, "stopped": 0, "failed": 0, "unfinished": 0}
    spec = load_sweep(str(path))
    for trial in results["trials"]:
        alone = train(spec.config(trial["values"], trial["seed"]), str(tmp_path / "alone" / trial["run"]))
        assert trial["reward_per_round"] == alone.reward_per_round  # bit for bit, seed for seed
        assert trial["iteration"] == 10 and trial["status"] == "done"


def test_a_tournament_on_a_cluster_gives_the_local_json_with_the_token_in_a_file(head, capsys, tmp_path):
    address, env = head
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(env["RAY_AUTH_TOKEN"])  # the token copied from the head, as the recipe says
    driver = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN"} | {"HOME": str(home)}
    done = cli(TOURNAMENT + ["--backend", "ray", "--address", address], driver)
    assert done.returncode == 0, done.stdout + done.stderr
    assert main(TOURNAMENT + ["--jobs", "1"]) == 0
    assert done.stdout == capsys.readouterr().out  # to the bit


@pytest.mark.parametrize("auth", [{"RAY_AUTH_MODE": None, "RAY_AUTH_TOKEN": None}, {"RAY_AUTH_TOKEN": "0" * 32}], ids=["no-token", "wrong-token"])
def test_a_cluster_that_refuses_the_token_is_one_line_at_once(head, tmp_path, auth):
    address, env = head
    driver = {k: v for k, v in env.items() if k not in auth} | {k: v for k, v in auth.items() if v is not None}
    path, out = tmp_path / "s.toml", tmp_path / "out"
    path.write_text(TINY)
    start = time.monotonic()
    done = cli(["sweep", str(path), "--address", address, "--out", str(out), "--quiet"], driver, timeout=60)
    seconds = time.monotonic() - start
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    mode = "unset" if "RAY_AUTH_MODE" in auth else "token"
    assert (
        f"error: the Ray cluster at {address} refused this machine's authentication token (RAY_AUTH_MODE is {mode} here); set RAY_AUTH_MODE=token" in errors[0]
    )
    assert seconds < 20, seconds  # ray.init alone retries for 20 s
    assert sorted(os.listdir(out)) == [RUN_MARKER]  # no half-made sweep: the same command runs once the token is given


def test_an_address_where_nothing_listens_is_one_line_at_once(tmp_path, capsys):
    (port,) = free_ports(1)
    path, out = tmp_path / "s.toml", tmp_path / "out"
    path.write_text(TINY)
    start = time.monotonic()
    assert main(["sweep", str(path), "--address", f"127.0.0.1:{port}", "--out", str(out), "--quiet"]) == 2
    assert main(TOURNAMENT + ["--backend", "ray", "--address", f"127.0.0.1:{port}"]) == 2
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err.splitlines()
    expected = f"error: cannot reach the Ray cluster at 127.0.0.1:{port} (Connection refused); start one there with `ray start --head --port={port}`, or drop --address"
    assert err == [expected, expected]
    assert sorted(os.listdir(out)) == [RUN_MARKER]

"""policygrad sweep on Ray Tune, and tournaments/compare on Ray tasks (issue 19).

Bad sweep files are refused before Ray starts (no Ray needed). The rest runs on one local Ray of 2
CPUs shared by the module (the ``ray2`` fixture), with tiny runs: a grid whose trials equal
``train()`` run one by one, ASHA stopping a hopeless cell, PBT copying a better checkpoint, a worker
killed with SIGKILL and retried, a sweep stopped with Ctrl-C and resumed, a trial that raises, and
the tournament's JSON equal on both backends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from policygrad.stats import interval
from policygrad.cli import main
from policygrad.config import TrainConfig
from policygrad.sweep import load_sweep, run_sweep, sweep_from_dict
from policygrad.train import train

TINY = """
[base]
rounds = 8
batch = 16
iterations = {iterations}
hidden = [8]
context = 1
checkpoint_every = 5
tensorboard = false
"""


def write(tmp_path, text: str, name: str = "s.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- refused before Ray starts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "top, tables, message",
    [
        ("scheduler = 'hyperband'", "", "unknown scheduler 'hyperband'; allowed: none, asha, pbt"),
        ("", "[space]\nlearning_rate = { grid = [0.1] }", "unknown key 'learning_rate' in [space]"),
        ("", "[spaces]\nlr = { grid = [0.1] }", "unknown key 'spaces' in the sweep file"),
        ("", "[space]\nlr = { uniform = [0.0, 0.1] }", "[space] lr bound 0.0: lr=0.0 is out of range; allowed: > 0.0"),
        ("", "[space]\nlr = { loguniform = [0.1, 0.01] }", "needs low < high"),
        ("", "[space]\nlr = { between = [0.1, 0.2] }", "[space] lr must be one of { grid = [...] }"),
        ("", "[space]\niterations = { uniform = [10, 20] }", "iterations takes int values, and uniform draws real numbers"),
        ("samples = 4", "[space]\nopponent = { choice = ['frequency', 'nobody'] }", "unknown opponent 'nobody'"),
        ("", "[space]\ngamma = { grid = [0.5, 1.5] }", "gamma=1.5 is out of range; allowed: >= 0.0 and <= 1.0"),
        ("metric = 'accuracy'", "", "unknown metric 'accuracy'; allowed: reward_per_round"),
        ("seeds = [1, 1]", "", "seeds must differ"),
        ("scheduler = 'asha'", "[pbt]\nquantile_fraction = 0.5", "[pbt] is set but scheduler = 'asha'"),
        (
            "scheduler = 'pbt'",
            "[space]\nlr = { grid = [0.1, 0.2] }\n[pbt]\nperturbation_interval = 7",
            "perturbation_interval = 7 must be a multiple of checkpoint_every (5)",
        ),
        ("", "[space]\nseed = { grid = [1, 2] }", "seed is not a [space] dimension"),
        ("", "[space]\nopponent = { grid = ['kaggle:path=bot.py'] }", "would run outside code"),
    ],
)
def test_bad_sweep_files_are_refused_before_ray_starts(tmp_path, capsys, top, tables, message):
    path = write(tmp_path, top + "\n" + TINY.format(iterations=10) + tables + "\n")
    with pytest.raises(ValueError) as e:
        load_sweep(path)
    assert message in str(e.value) and path in str(e.value)
    out = tmp_path / "out"
    assert main(["sweep", path, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and not out.exists()  # one line on stderr, nothing made


def test_sweep_cells_are_the_grid_crossed_with_draws_the_same_every_time():
    data = {"space": {"opponent": {"grid": ["frequency", "constant"]}, "lr": {"loguniform": [1e-4, 1e-1]}}, "samples": 3, "seeds": 2, "base": {"iterations": 5}}
    a, b = sweep_from_dict(data), sweep_from_dict(data)
    assert len(a.cells) == 6 and len(a.trials) == 12 and a.cells == b.cells
    assert [c["opponent"] for c in a.cells] == ["frequency"] * 3 + ["constant"] * 3
    assert all(1e-4 <= c["lr"] <= 1e-1 for c in a.cells) and len({c["lr"] for c in a.cells}) == 6
    assert a.trials[0].name == f"000__opponent=frequency__lr={a.cells[0]['lr']:.4g}__seed=0"


def test_the_meta_agents_sweep_is_its_recipe_as_pbt_over_a_population_of_grus():
    from policygrad.config import read_config

    root = os.path.join(os.path.dirname(__file__), "..", "agents")
    spec = load_sweep(os.path.join(root, "meta.sweep.toml"))
    recipe = read_config(os.path.join(root, "meta.toml")).to_dict()
    recipe.pop("seed")
    assert spec.base == recipe and spec.scheduler == "pbt" and spec.pbt["mutations"] == ["lr", "ent_coef"]
    assert len(spec.trials) == 8 and {spec.config(t.values, t.seed).policy for t in spec.trials} == {"gru"}
    assert spec.pbt["perturbation_interval"] % recipe["checkpoint_every"] == 0


EXPERT_TINY = """trainer = "expert-mixture"
[base]
rounds = 12
batch = 6
iterations = {iterations}
hidden = 8
members = 4
mind_reader = 0.2
eval_every = 2
checkpoint_every = 2
heldout_batch = 2
"""


@pytest.mark.parametrize(
    "top, tables, message",
    [
        ("trainer = 'ppo'\n", "", "unknown trainer 'ppo'; allowed: policy, expert-mixture"),
        ("", "[space]\nopponent = { grid = ['frequency'] }", "unknown key 'opponent' in [space]; allowed: any training field (trainer, game, rounds"),
        ("metric = 'loss_v'\n", "", "unknown metric 'loss_v'; allowed: reward_per_round, heldout_reward, mind_reader"),
        (
            "metric = 'heldout_reward'\n",
            "[space]\ncheckpoint_every = { grid = [2, 3] }",
            "measured every eval_every = 2 iterations, and a trial reports at its checkpoints (checkpoint_every = 3)",
        ),
        ("", "[space]\nswitch = { grid = [0.5, 1.5] }", "switch must be a share in [0, 1], got 1.5"),
        ("", "[space]\npopulation = { grid = ['kaggle:path=bot.py'] }", "would run outside code"),
    ],
)
def test_bad_expert_sweep_files_are_refused_before_ray_starts(tmp_path, top, tables, message):
    text = EXPERT_TINY.format(iterations=4).replace('trainer = "expert-mixture"\n', 'trainer = "expert-mixture"\n' + top if "trainer" not in top else top)
    if "checkpoint_every = {" in tables:
        text = text.replace("checkpoint_every = 2\n", "")
    path = write(tmp_path, text + tables + "\n")
    with pytest.raises(ValueError) as e:
        load_sweep(path)
    assert message in str(e.value) and path in str(e.value)


def test_the_expert_agents_sweep_is_its_recipe_as_pbt_on_the_held_out_reward():
    from policygrad.config import load_toml
    from policygrad.expert_train import ExpertTrainConfig

    root = os.path.join(os.path.dirname(__file__), "..", "agents")
    spec = load_sweep(os.path.join(root, "expert-meta.sweep.toml"))
    recipe = ExpertTrainConfig.from_dict(load_toml(os.path.join(root, "expert-meta.toml")))
    assert spec.trainer == "expert-mixture" and spec.scheduler == "pbt" and spec.metric == "heldout_reward" and len(spec.trials) == 4
    for t in spec.trials:  # each member is the recipe but for its seed and drawn step size
        config = spec.config(t.values, t.seed)
        assert isinstance(config, ExpertTrainConfig) and config.to_dict() == {**recipe.to_dict(), "lr": t.values["lr"], "seed": t.seed}
        assert 0.003 <= config.lr <= 0.03
    assert spec.pbt["perturbation_interval"] % recipe.checkpoint_every == 0 and recipe.checkpoint_every % recipe.eval_every == 0


def test_without_ray_sweep_and_backend_ray_say_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as it does without the extra
    path = write(tmp_path, TINY.format(iterations=5))
    assert main(["sweep", path, "--out", str(tmp_path / "out")]) == 2
    assert main(["tournament", "--agents", "uniform", "--opponents", "frequency", "--rounds", "5", "--seeds", "1", "--backend", "ray"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.count("needs Ray, which is not installed") == 2 and err.count("pip install 'policygrad[ray]'") == 2
    assert not (tmp_path / "out").exists()


# -- on a local Ray of 2 CPUs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray2():
    pytest.importorskip("ray")
    from policygrad.distributed import ray_session

    with ray_session(cpus=2) as ray:
        yield ray


def test_grid_sweep_equals_train_run_one_by_one(tmp_path, ray2, capsys):
    text = "seeds = 3\n" + TINY.format(iterations=10) + "[space]\nopponent = { grid = ['constant', 'frequency'] }\nlr = { grid = [0.02, 0.005] }\n"
    path, out = write(tmp_path, text), tmp_path / "out"
    assert main(["sweep", path, "--out", str(out), "--quiet"]) == 0
    shown = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["counts"] == {"done": 12, "stopped": 0, "failed": 0, "unfinished": 0}
    spec = load_sweep(path)
    for trial in results["trials"]:
        config = TrainConfig.from_dict({**spec.base, **trial["values"], "seed": trial["seed"]})
        alone = train(config, str(tmp_path / "alone" / trial["run"]))
        assert trial["reward_per_round"] == alone.reward_per_round  # bit for bit, seed for seed
        assert trial["iteration"] == 10 and trial["status"] == "done"
    for cell in results["cells"]:  # the table: mean and 95% t-interval over the 3 seeds
        finals = [t["reward_per_round"] for t in results["trials"] if t["cell"] == cell["cell"]]
        assert (cell["reward_per_round"], cell["ci95"]) == pytest.approx(interval(finals))
    best = max(results["cells"], key=lambda c: c["reward_per_round"])
    assert results["best"]["cell"] == best["cell"] and best["values"] == {"opponent": "constant", "lr": 0.02}
    assert "best cell (max reward_per_round): 0 opponent=constant, lr=0.02" in shown
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("cell,opponent,lr,trials,done") and len(csv_lines) == 5
    assert sorted(os.listdir(out / "plots")) == ["final_vs_lr.png", "final_vs_opponent.png", "learning_curves.png"]
    run_dir = os.path.join(out, "runs", results["trials"][0]["run"])  # a normal run folder: every command reads it
    assert main(["evaluate", run_dir, "--opponent", "constant", "--matches", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["matches"] == 20
    from policygrad import Agent

    assert Agent.load(run_dir).act() in (0, 1, 2)


def test_asha_stops_a_hopeless_cell_early(tmp_path, ray2):
    text = ("seeds = 2\nscheduler = 'asha'\n" + TINY.format(iterations=40) + "opponent = 'constant'\n"
            "[space]\nlr = { grid = [0.02, 1e-6] }\n[asha]\ngrace_period = 10\nreduction_factor = 2\n")  # fmt: skip
    result = run_sweep(load_sweep(write(tmp_path, text)), str(tmp_path / "out"))
    trials = result.results["trials"]
    good, bad = [t for t in trials if t["values"]["lr"] == 0.02], [t for t in trials if t["values"]["lr"] == 1e-6]
    # the good trials reach rung 10 first (they start first): every hopeless one is then below the cutoff
    assert all(t["status"] == "stopped" and t["iteration"] < 40 for t in bad)
    assert any(t["status"] == "done" and t["iteration"] == 40 for t in good)  # ASHA may also stop the weaker of the two good ones
    assert result.results["cells"][1]["stopped"] == 2 and result.results["cells"][1]["done"] == 0


def test_pbt_copies_the_checkpoint_of_a_better_trial(tmp_path, ray2):
    text = ("seeds = [0]\nscheduler = 'pbt'\n" + TINY.format(iterations=40) + "opponent = 'constant'\n"
            "[space]\nlr = { grid = [0.02, 1e-6] }\n[pbt]\nperturbation_interval = 10\nquantile_fraction = 0.5\nmutations = ['lr']\nsynch = true\n")  # fmt: skip
    out = tmp_path / "out"
    result = run_sweep(load_sweep(write(tmp_path, text)), str(out))
    assert result.results["counts"]["done"] == 2
    good, bad = result.results["trials"]  # lr 0.02 wins against a constant opponent; lr 1e-6 stays uniform
    assert bad["exploits"], "PBT copied no checkpoint"
    line = bad["exploits"][0]
    assert f"copied the checkpoint of {good['run']} (iteration " in line  # its log says from which
    it = int(line.split("iteration ")[1].split(":")[0])
    theirs = float(line.split("reward_per_round ")[1].split(")")[0])
    mine = float(line.split("reward_per_round ")[2].split(")")[0])
    assert theirs > mine + 0.5  # from a better trial
    run_dir = out / "runs" / bad["run"]  # the copied trial's run folder shows it
    assert f"PBT exploit: iteration {it}: copied the checkpoint of {good['run']}" in (run_dir / "sweep.log").read_text()
    donor_rows = (out / "runs" / good["run"] / "metrics.csv").read_text().splitlines()
    assert float(donor_rows[it].split(",")[2]) == pytest.approx(theirs, abs=1e-4)  # the donor's own row at that iteration
    assert bad["reward_per_round"] > 0.9 and bad["iteration"] == 40  # trained on from the better checkpoint


def test_pbt_trains_the_expert_mixture_and_hands_its_checkpoints_between_trials(tmp_path, ray2):
    """trainer = "expert-mixture": each trial is train_expert's run folder; PBT ranks them by the held-out
    reward (measured at every checkpoint) and the worse copies the better's whole checkpoint."""
    from policygrad.agent import Agent
    from policygrad.config import load_toml
    from policygrad.expert_agent import ExpertAgent

    text = "seeds = [0, 1]\nmetric = 'heldout_reward'\nscheduler = 'pbt'\n" + EXPERT_TINY.format(iterations=6)
    text += "[space]\nlr = { loguniform = [1e-7, 0.05] }\n[pbt]\nperturbation_interval = 2\nquantile_fraction = 0.5\nmutations = ['lr']\nsynch = true\n"
    out = tmp_path / "out"
    result = run_sweep(load_sweep(write(tmp_path, text)), str(out))
    assert result.results["counts"]["done"] == 2
    trials = result.results["trials"]
    assert all(t["iteration"] == 6 and t["heldout_reward"] is not None and -1 <= t["heldout_reward"] <= 1 for t in trials)
    exploited = [t for t in trials if t["exploits"]]
    assert exploited, "PBT copied no checkpoint"
    line = exploited[0]["exploits"][0]
    other = next(t["run"] for t in trials if t is not exploited[0])
    assert f"copied the checkpoint of {other} (iteration " in line and "heldout_reward" in line
    theirs, mine = (float(x.split(")")[0]) for x in line.split("heldout_reward ")[1:3])
    assert theirs >= mine  # from the better trial (or one as good: PBT ranks a tie either way)
    assert "seed" not in line.rsplit("); ", 1)[1]  # what changed: the better trial's values, but not the seed (its own stream of matches)
    assert load_toml(os.path.join(exploited[0]["run_dir"], "config.toml"))["seed"] == exploited[0]["seed"]
    for t in trials:  # each run folder is the agent
        assert isinstance(Agent.load(t["run_dir"]), ExpertAgent)
    assert (out / "results.csv").read_text().splitlines()[0].endswith("reward_per_round,ci95,optimum_fraction,heldout_reward,seconds,iteration")


def _pid_of(run_dir: str) -> int | None:
    try:
        lines = open(os.path.join(run_dir, "sweep.log")).read().splitlines()
        rows = open(os.path.join(run_dir, "metrics.csv")).read().splitlines()
    except FileNotFoundError:
        return None
    if len(rows) < 12 or "done" in lines[-1]:  # a checkpoint past iteration 0 (every 5), and not finished
        return None
    return int(lines[-1].split(" pid ")[1].split()[0]) if " pid " in lines[-1] else None


def test_a_killed_worker_is_retried_from_its_last_checkpoint(tmp_path, ray2):
    text = "seeds = 2\nmax_failures = 2\n" + TINY.format(iterations=150).replace("batch = 16", "batch = 64") + "opponent = 'frequency'\n"
    spec, out = load_sweep(write(tmp_path, text)), str(tmp_path / "out")
    victim = os.path.join(out, "runs", spec.trials[0].name)
    killed: list[int] = []

    def kill() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pid = _pid_of(victim)
            if pid:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    result = run_sweep(spec, out)
    killer.join()
    assert killed, "the trial ended before it could be killed"
    assert result.results["counts"]["done"] == 2  # every trial's result
    trial = next(t for t in result.results["trials"] if t["run"] == spec.trials[0].name)
    assert trial["failures"] >= 1
    log = open(os.path.join(victim, "sweep.log")).read()
    assert log.count("start: ") >= 2 and "resuming from its checkpoint" in log
    alone = train(spec.config(trial["values"], trial["seed"]), str(tmp_path / "alone"))
    assert trial["reward_per_round"] == alone.reward_per_round  # resumed bit for bit


def test_ctrl_c_stops_the_sweep_and_resume_runs_only_the_rest(tmp_path, ray2):
    text = "seeds = 6\n" + TINY.format(iterations=200) + "opponent = 'frequency'\n"
    path, out = write(tmp_path, text), tmp_path / "out"
    spec = load_sweep(path)
    cmd = [sys.executable, "-m", "policygrad.cli", "sweep", path, "--out", str(out), "--cpus", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    runs = [out / "runs" / t.name for t in spec.trials]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and sum((r / "report.json").exists() for r in runs) < 2 and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # the finished trials' last reports reach Tune
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert f"resume with policygrad sweep {path} --out {out} --resume" in " ".join(output.split())
    stopped = json.loads((out / "results.json").read_text())  # written at the stop, from Tune's saved state
    done = {t["run"] for t in stopped["trials"] if t["status"] == "done"}
    assert stopped["counts"]["unfinished"] > 0 and len(done) >= 1
    logs = {r.name: (r / "sweep.log").read_text() for r in runs if r.name in done}
    trained = {r.name: (r / "metrics.csv").read_text() for r in runs if (r / "report.json").exists()}
    result = run_sweep(spec, str(out), resume=True)
    assert result.results["counts"]["done"] == 6 and not result.interrupted
    for r in runs:
        if r.name in done:
            assert (r / "sweep.log").read_text() == logs[r.name]  # finished trials are not run again
        if r.name in trained:  # a trial that had trained to the end before the stop trains no more
            assert (r / "metrics.csv").read_text() == trained[r.name]
        assert (r / "report.json").exists()
    last = result.results["trials"][-1]
    assert last["reward_per_round"] == train(spec.config(last["values"], last["seed"]), str(tmp_path / "alone")).reward_per_round


def test_a_trial_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path, ray2):
    base = TINY.format(iterations=10).replace("hidden = [8]\n", "")
    text = "max_failures = 1\n" + base + "[space]\nhidden = { grid = [[8], [100000, 100000]] }\n"  # 10^10 parameters: refused in the worker
    result = run_sweep(load_sweep(write(tmp_path, text)), str(tmp_path / "out"))
    ok, bad = result.results["trials"]
    assert ok["status"] == "done" and ok["iteration"] == 10
    assert bad["status"] == "failed" and "TooLargeError: " in bad["error"] and "20,006,400,004 parameters" in bad["error"], bad["error"]
    assert bad["failures"] == 2  # the first attempt and its one retry (max_failures = 1)
    assert result.results["cells"][1]["failed"] == 1 and not result.interrupted


def test_tournament_on_ray_gives_the_local_json(ray2, capsys):
    argv = [
        "tournament",
        "--agents",
        "uniform,markov:order=1",
        "--opponents",
        "frequency,cycle,mixed:probs=0.5,0.3,0.2",
        "--rounds",
        "30",
        "--seeds",
        "3",
        "--json",
        "--quiet",
    ]
    assert main(argv + ["--jobs", "2"]) == 0
    local = capsys.readouterr().out
    assert main(argv + ["--backend", "ray"]) == 0
    assert capsys.readouterr().out == local  # to the bit


def test_compare_on_ray_gives_the_local_numbers(ray2):
    from policygrad.compare import CompareSettings, compare

    s = CompareSettings(opponents=("frequency",), seeds=(0, 1), iterations=5, batch=16, matches=20, rounds=6)

    def numbers(report):
        report = json.loads(json.dumps(report))
        report.pop("seconds")
        for e in report["entries"]:
            e.pop("train_seconds")
            for r in e["per_seed"]:
                r.pop("train_seconds")
        return report

    assert numbers(compare(s, backend="ray")) == numbers(compare(s))


def test_a_local_sweep_starts_its_own_ray_even_when_a_cluster_runs_on_this_machine(tmp_path):
    """Without --address a sweep starts (and stops) a local Ray of its own: a cluster that some
    `ray start --head` left running on the machine is not joined (ray.init would join it by default)."""
    pytest.importorskip("ray")
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    from test_sweep_cluster import free_ports

    port, client_port = free_ports(2)  # not Ray's defaults: another head on the machine may hold them
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}  # 0: the head stops at once
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--port", str(port), "--ray-client-server-port", str(client_port), "--num-cpus", "1",
         "--include-dashboard=false", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        marker = "/tmp/ray/ray_current_cluster"
        while time.monotonic() < deadline and not (os.path.exists(marker) and str(port) in open(marker).read()):
            time.sleep(0.2)
        text = "seeds = 2\n" + TINY.format(iterations=5) + "opponent = 'constant'\n"
        path, out = write(tmp_path, text), tmp_path / "out"
        cmd = [sys.executable, "-m", "policygrad.cli", "sweep", path, "--out", str(out), "--cpus", "1", "--quiet"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads((out / "results.json").read_text())["counts"]["done"] == 2
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block: the head stops the processes it started
        head.wait(timeout=60)

"""The command line: a real run, files written, clean errors."""

import csv
import json
import subprocess
import sys

import pytest

import jaxac
from jaxac import cli

ARGS = ["train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-steps", "2048",
        "--rollout-length", "64", "--policy.hidden", "16", "16"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxac.cli", *args], capture_output=True,
                          text=True, timeout=300)


# 160 updates of 4 envs x 16 steps in chunks of 4, a checkpoint after every chunk: long enough
# to interrupt, short to compile
LONG = ["train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-steps", str(4 * 16 * 160),
        "--num-envs", "4", "--rollout-length", "16", "--policy.hidden", "16", "--checkpoint-every", "1"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """One uninterrupted CLI run (progress bar on), shared by the tests below."""
    out_dir = tmp_path_factory.mktemp("cli") / "straight"
    out = run_cli(*LONG, "--chunk-updates", "4", "--out", str(out_dir))
    assert out.returncode == 0, out.stderr
    return out_dir, out


def test_train_writes_metrics_and_config_and_is_reproducible_across_processes(straight, tmp_path):
    a, out = straight
    assert "compiled in" in out.stdout and "env steps/s" in out.stdout and "±" in out.stdout
    # the progress bar (stderr) moves once per chunk of 4 updates (256 env steps per seed)
    for steps in (256, 512, 10240):
        assert f"{steps}/10240" in out.stderr, out.stderr
    rows = list(csv.DictReader(open(a / "metrics.csv")))
    assert len(rows) == 2 * 160
    assert {"seed", "step", "episode_return", "loss", "approx_kl"} <= set(rows[0])
    assert rows[-1]["seed"] == "1" and rows[-1]["step"] == "10240"
    record = json.load(open(a / "config.json"))
    assert record["algorithm"] == "ppo" and record["config"]["rollout_length"] == 16
    assert record["config"]["policy"]["hidden"] == [16] and "jax" in record["versions"]
    assert record["run"]["chunk_updates"] == 4 and len(record["final_return_per_seed"]) == 2
    from test_logging import read_events
    board = read_events(str(a / "tb" / "mean"))
    assert [step for step, _ in board["train/loss"]][:3] == [256, 512, 768]  # one point per chunk
    assert read_events(str(a / "tb" / "seed_1"))["train/loss"][-1][0] == 10240

    # another process, other chunking and no progress bar: the same metrics, bit for bit
    b = tmp_path / "b"
    assert run_cli(*LONG, "--chunk-updates", "64", "--no-progress", "--out", str(b)).returncode == 0
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()

    out = run_cli("eval", str(a), "--episodes", "3", "--json", str(tmp_path / "eval.json"))
    assert out.returncode == 0, out.stderr
    assert "seed 1: return" in out.stdout and "all seeds: return" in out.stdout
    assert "over all episodes" in out.stdout.split("all seeds:")[1] and ", std " in out.stdout  # labelled
    result = json.load(open(tmp_path / "eval.json"))
    assert result["update"] == 160 and len(result["returns"]) == 2 and len(result["returns"][0]) == 3
    # CartPole pays 1 per step: an episode's return is its length
    assert result["returns"] == [[float(n) for n in seed] for seed in result["lengths"]]


def test_render_of_a_non_brax_run_is_a_config_error(straight, capsys, tmp_path):
    run_dir, _ = straight
    assert cli.main(["eval", str(run_dir), "--render", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "only brax environments" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize("args,needle", [
    (["train", "ppo", "--env", "CartPol-v1"], "CartPole-v1"),
    (["train", "ppo", "--num-minibatches", "7"], "num_minibatches"),
    (["train", "ppo", "--optim.learning-rate", "-1"], "optim.learning_rate"),
    (["train", "ppo", "--learning-rate", "1e-3"], "--learning-rate is now --optim.learning-rate"),
    (["train", "ppo", "--critic.num-bins", "51"], "add --critic c51"),
    (["train", "ppo", "--policy.activation", "sigmoid"], "policy.activation"),
    (["train", "ppo", "--gamma", "1.5"], "gamma"),
    (["train", "ppo", "--env-kwarg", "max_steps"], "KEY=VALUE"),
    (["train", "ppo", "--seeds", "0"], "--seeds"),
])
def test_bad_input_exits_nonzero_with_one_line(capsys, args, needle):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_algorithm_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "dqn"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    for argv, close in ((["trian", "ppo"], "train"), (["train", "ppp"], "ppo")):  # misspelt: the closest
        with pytest.raises(SystemExit):
            cli.main(argv)
        err = capsys.readouterr().err.strip()
        assert f"did you mean {close}?" in err and len(err.splitlines()) == 1, err


def _help(capsys, *args):
    with pytest.raises(SystemExit):
        cli.main(["train", *args])
    return capsys.readouterr().out


def test_help_is_grouped_short_and_shows_the_defaults_in_effect(capsys):
    text = _help(capsys, "ppo", "--help")
    assert len(text.splitlines()) < 80
    for flag in ["--optim.learning-rate", "--num-minibatches", "--optim.schedule", "--clip-value-loss",
                 "--policy.hidden", "--reward-scale", "--policy.distribution", "--env-kwarg", "--critic.hidden"]:
        assert flag in text
    assert text.index("--optim.learning-rate") < text.index("--critic.hidden")  # critic options last
    assert "--critic.num-bins" not in text and "{auto,gaussian,tanh_gaussian}" in text
    assert "learning rate [0.00025]" in text and "passes over each rollout [4]" in text
    # the preset's values for the chosen env, the chosen critic's options
    text = _help(capsys, "ppo", "--env", "Pendulum-v1", "--critic", "c51", "--help")
    assert "passes over each rollout [10]" in text and "learning rate [0.001]" in text
    assert "--critic.num-bins N" in text and "[101]" in text and "--critic.num-quantiles" not in text
    text = _help(capsys, "sac", "--help-all")
    assert all(f in text for f in ["--critic.num-bins", "--critic.num-quantiles", "--critic.noise", "--critic.beta"])


def test_presets_apply_and_flags_override():
    argv = ["train", "ppo", "--env", "Pendulum-v1", "--num-envs", "8", "--optim.eps", "1e-3"]
    cfg = cli._config_from_args(cli.parse_args(argv))
    assert cfg.num_envs == 8 and cfg.update_epochs == 10 and cfg.gamma == 0.95
    assert cfg.optim.eps == 1e-3 and cfg.optim.learning_rate == 1e-3  # the preset's rate is kept
    argv = ["train", "ppo", "--env", "Pendulum-v1", "--no-preset"]
    assert cli._config_from_args(cli.parse_args(argv)).update_epochs == 4


def test_sac_and_a2c_train_from_the_cli(tmp_path):
    out = run_cli("train", "sac", "--env", "Pendulum-v1", "--seeds", "2", "--total-steps", "320",
                  "--learning-starts", "256", "--minibatch-size", "32", "--policy.hidden", "16", "16",
                  "--num-envs", "2", "--utd", "0.5", "--critic", "c51", "--critic.num-bins", "11",
                  "--critic.v-min", "-2000", "--critic.v-max", "0", "--out", str(tmp_path / "sac"))
    assert out.returncode == 0, out.stderr
    record = json.load(open(tmp_path / "sac" / "config.json"))["config"]
    assert record["critic"] == dict(name="c51", hidden=[], layer_norm=False, dropout=0.0, v_min=-2000.0,
                                    v_max=0.0, num_bins=11)
    assert "2 seed(s) x 320 env steps" in out.stdout
    rows = list(csv.DictReader(open(tmp_path / "sac" / "metrics.csv")))
    assert len(rows) == 2 * 32 and rows[0]["step"] == "258" and rows[-1]["step"] == "320"
    assert {"critic_loss", "actor_loss", "alpha", "entropy"} <= set(rows[0])

    out = run_cli("train", "a2c", "--env", "CartPole-v1", "--total-steps", "400", "--policy.hidden", "16",
                  "--out", str(tmp_path / "a2c"))
    assert out.returncode == 0, out.stderr
    assert json.load(open(tmp_path / "a2c" / "config.json"))["config"]["optim"]["name"] == "rmsprop"


@pytest.mark.parametrize("args,needle", [
    (["train", "sac", "--utd", "0"], "utd"),
    (["train", "sac", "--minibatch-size", "2048"], "minibatch_size"),
    (["train", "sac", "--tau", "1.5"], "tau"),
    (["train", "a2c", "--optim.name", "sgd"], "optim.name"),
    (["train", "sac", "--critic", "c52"], "critic"),
    (["train", "ppo", "--critic", "c51", "--critic.v-min", "1"], "critic.v_min"),
    (["train", "sac", "--critic", "scalar", "--aggregate", "truncate"], "truncate"),
])
def test_bad_off_policy_and_a2c_input_exits_nonzero_with_one_line(capsys, args, needle):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _wait_for_checkpoint_after(ckpts, step, proc, timeout=240):
    """Waits until `proc` has written a checkpoint newer than `step`; returns its step."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        steps = [int(p.name) for p in ckpts.iterdir() if p.name.isdigit()] if ckpts.exists() else []
        if steps and max(steps) > step:
            return max(steps)
        time.sleep(0.02)
    raise AssertionError("the run finished (or hung) before a new checkpoint appeared")


def test_ctrl_c_then_sigkill_then_resume_matches_an_uninterrupted_run(straight, tmp_path):
    """The run is stopped with Ctrl-C (SIGINT: it saves at the next chunk boundary and exits
    130), resumed, killed with SIGKILL once it has saved again, and resumed to the end: its
    metrics equal those of the run that was never interrupted."""
    import os
    import signal

    args = [*LONG, "--chunk-updates", "4", "--no-progress"]
    run = tmp_path / "run"
    popen = lambda *a: subprocess.Popen([sys.executable, "-m", "jaxac.cli", *a], text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    proc = popen(*args, "--out", str(run))
    first = _wait_for_checkpoint_after(run / "checkpoints", 0, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert f"resume with: jaxac resume {run}" in stdout
    stopped = max(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert first <= stopped < 160

    proc = popen("resume", str(run), "--no-progress")
    _wait_for_checkpoint_after(run / "checkpoints", stopped, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not (run / "config.json").read_text().count("final_return_per_seed")

    out = run_cli("resume", str(run), "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "resuming at update" in out.stdout
    assert (run / "metrics.csv").read_text() == (straight[0] / "metrics.csv").read_text()


def test_a_diverging_run_stops_naming_seed_update_and_metric(tmp_path, capsys):
    args = [*ARGS, "--optim.learning-rate", "1e30", "--checkpoint-every", "1", "--no-progress",
            "--out", str(tmp_path / "nan")]
    assert cli.main(args) == 3
    err = capsys.readouterr().err
    assert "became non-finite at update 1" in err and "seed 0" in err
    assert "no checkpoint was saved" in err and "Traceback" not in err


def test_resume_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["resume", str(tmp_path / "nothing")]) == 2
    assert "not a jaxac run directory" in capsys.readouterr().err
    assert cli.main(["eval", str(tmp_path / "nothing")]) == 2
    assert "not a jaxac run directory" in capsys.readouterr().err


@pytest.mark.parametrize("args,suggested", [
    (["train", "ppo", "--lr", "1e-3"], "--optim.learning-rate"),
    (["train", "ppo", "--total-step", "5"], "--total-steps"),
    (["train", "a2c", "--hiden", "3"], "--policy.hidden"),
    (["train", "sac", "--n-envs", "3"], "--num-envs"),
    (["sweep", "ppo", "--trails", "3"], "--trials"),
    (["pbt", "sac", "--populaton", "3"], "--population"),
    (["eval", "x", "--epsiodes", "3"], "--episodes"),
    (["resume", "x", "--chekpoint", "3"], "--checkpoint"),
    (["plot", "x", "--titel", "t"], "--title"),
])
def test_a_misspelt_flag_suggests_its_own_subcommands_closest_flags(capsys, args, suggested):
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    err = capsys.readouterr().err.strip()
    prog = "jaxac " + " ".join(args[:2] if args[0] in ("train", "sweep", "pbt") else args[:1])
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"{prog}: error: unrecognized arguments") and f"did you mean {suggested}" in err, err
    assert "--help" not in err.split("did you mean")[1].split("?")[0]


def test_a_missing_checkpoint_or_directory_is_one_line_before_compiling(straight, tmp_path, capsys):
    run_dir, _ = straight
    for command in (["resume", str(run_dir), "--checkpoint", "7"], ["eval", str(run_dir), "--checkpoint", "7"]):
        assert cli.main(command) == 2
        out, err = capsys.readouterr()
        assert "compiling" not in out and err.strip().startswith("jaxac: error: no checkpoint 7 in"), (out, err)
    assert cli.main(["plot", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"jaxac: error: {tmp_path / 'missing'} does not exist"
    (tmp_path / "empty").mkdir()
    assert cli.main(["plot", str(tmp_path / "empty")]) == 2
    assert "is not a jaxac run directory" in capsys.readouterr().err


@pytest.mark.parametrize("flags,path,value", [
    (["--optim.max-grad-norm", "none"], "optim.max_grad_norm", None),
    (["--optim.max-grad-norm", "2"], "optim.max_grad_norm", 2.0),
    (["--obs.normalize", "true"], "obs.normalize", True),
    (["--obs.normalize", "false"], "obs.normalize", False),
    (["--no-obs.normalize"], "obs.normalize", False),
    (["--obs.normalize"], "obs.normalize", True),
    (["--policy.hidden", "64,64"], "policy.hidden", (64, 64)),
    (["--policy.hidden", "32", "16"], "policy.hidden", (32, 16)),
    (["--critic", "c51", "--critic.v-min", "none"], "critic.v_min", None),
])
def test_every_value_the_help_shows_can_be_typed(flags, path, value):
    """`unset: none`, booleans as true/false, tuples as the sweep grids write them."""
    from jaxac import config as C

    cfg = cli._config_from_args(cli.parse_args(["train", "ppo", *flags]))
    assert C.get(cfg, path) == value


def test_a_bad_typed_value_is_one_line(capsys):
    for flags, needle in ((["--obs.normalize", "maybe"], "use true or false"),
                          (["--policy.hidden", "6x"], "use e.g. 64 64 or 64,64"),
                          (["--no-obs.normalize", "true"], "takes no value")):
        with pytest.raises(SystemExit) as exc:
            cli.main(["train", "ppo", *flags])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and needle in err and len(err.splitlines()) == 1, err


def test_what_a_command_would_do_silently_is_one_note_each(monkeypatch, capsys, tmp_path):
    """The default env, --seed for --seeds, no --out, --total-steps rounded down (not compiled)."""
    monkeypatch.setattr(cli, "_execute", lambda session, no_progress: 0)
    assert cli.main(["train", "ppo", "--seed", "4", "--total-steps", "30000"]) == 0
    notes = capsys.readouterr().err.strip().splitlines()
    assert notes == [
        "jaxac: note: no --env: training on CartPole-v1, the default (`jaxac envs` lists the others)",
        "jaxac: note: --seed 4 is the base PRNG seed, and one seed runs; --seeds N runs N seeds",
        "jaxac: note: no --out: nothing is saved (metrics, checkpoints); add --out DIR to keep the run",
        "jaxac: note: --total-steps 30,000 is rounded down to 29,696 env steps per seed: 58 whole updates of 512"]
    assert cli.main(["train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--seed", "1",
                     "--total-steps", str(512 * 3), "--out", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().err == ""


def test_old_flat_names_are_named_from_python_too():
    with pytest.raises(jaxac.ConfigError, match=r"ppo.Config has no field 'learning_rate': it is now optim"):
        jaxac.ppo.Config(learning_rate=1e-3)
    with pytest.raises(jaxac.ConfigError, match=r"'learning_rate': it is now optim.learning_rate"):
        jaxac.ppo.Config().replace(learning_rate=1e-3)
    with pytest.raises(jaxac.ConfigError, match=r"sac.Config has no field 'lr': choose one of env,"):
        jaxac.sac.Config(lr=1e-3)


def test_renamed_fields_take_their_old_names_with_a_warning(monkeypatch, capsys):
    """`num_steps` is `rollout_length`, off-policy `batch_size` is `minibatch_size`: the old names
    work in a Config, `replace`, a flag (with a note) and a record of an earlier run (silently)."""
    from jaxac import checkpoint
    from jaxac import config as C

    with pytest.warns(C.JaxacWarning, match="num_steps is now rollout_length"):
        assert jaxac.ppo.Config(num_steps=64).rollout_length == 64
    with pytest.warns(C.JaxacWarning, match="batch_size is now minibatch_size"):
        assert jaxac.sac.Config(batch_size=32).minibatch_size == 32
    with pytest.warns(C.JaxacWarning):
        assert jaxac.a2c.Config().replace(num_steps=7).rollout_length == 7
    with pytest.raises(jaxac.ConfigError, match="give rollout_length only"):
        jaxac.ppo.Config(num_steps=64, rollout_length=32)
    with pytest.raises(jaxac.ConfigError, match="has no field 'batch_size'"):
        jaxac.ppo.Config(batch_size=64)  # on-policy: steps_per_update, a property
    record = C.to_dict(jaxac.ppo.Config(rollout_length=16))
    old = {("num_steps" if k == "rollout_length" else k): v for k, v in record.items()}
    assert C.from_dict(jaxac.ppo.Config, old).rollout_length == 16
    checkpoint._check_meta({"config": old}, {"config": record}, "run")  # an earlier run's checkpoint fits

    seen = {}
    monkeypatch.setattr(cli, "_execute", lambda session, no_progress: seen.setdefault("cfg", session.cfg) and 0)
    assert cli.main(["train", "sac", "--env", "Pendulum-v1", "--batch-size", "32", "--total-steps", "1200"]) == 0
    assert seen["cfg"].minibatch_size == 32
    assert ("jaxac: note: --batch-size is now --minibatch-size; the old name is accepted until the next release"
            in capsys.readouterr().err)


def test_a_discrete_policy_records_no_continuous_distribution():
    """config.json records policy.distribution "auto" unless set: categorical for discrete actions,
    gaussian for continuous ones."""
    from jaxac import config as C

    assert C.to_dict(jaxac.ppo.Config(env="CartPole-v1"))["policy"]["distribution"] == "auto"
    assert jaxac.ppo.components(jaxac.ppo.Config(env="CartPole-v1")).dist.kind == "categorical"
    assert jaxac.ppo.components(jaxac.ppo.Config(env="Pendulum-v1")).dist.kind == "gaussian"


def test_version_and_every_algorithm_in_the_top_level_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith(f"jaxac {jaxac.__version__} (jax ")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    shown = capsys.readouterr().out
    assert all(name in shown for name in jaxac.algos.ALGORITHMS), shown


def test_every_subcommand_dispatches_through_the_table():
    import argparse

    parser = cli.build_parser(["envs"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(cli.COMMANDS)

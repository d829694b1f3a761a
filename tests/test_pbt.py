"""PBT's exploit-and-explore step with a hand-made fitness: who copies whom, bit-for-bit
copies, exact perturbation factors, bounds, and one compiled program across calls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac import pbt
from jaxac.algos import ppo

LR = pbt.Hyper.parse("optim.learning_rate=loguniform:1e-4:1e-2")
ENT = pbt.Hyper.parse("ent_coef=uniform:0:0.05")
P = 8


def population(key=0):
    k1, k2 = jax.random.split(jax.random.key(key))
    state = {"params": jax.random.normal(k1, (P, 3, 4)), "moments": jax.random.normal(k2, (P, 5)),
             "count": jnp.arange(P, dtype=jnp.int32)}
    values = {LR.path: jnp.full((P,), 1e-3, jnp.float32), ENT.path: jnp.linspace(0.0, 0.04, P, dtype=jnp.float32)}
    return values, state


def test_the_bottom_members_copy_a_top_members_whole_state_bit_for_bit():
    values, state = population()
    fitness = jnp.asarray([5.0, 1.0, 7.0, jnp.nan, 3.0, 8.0, 2.0, 6.0])  # worst: 3 (NaN), then 1
    new_values, new_state, parents = pbt.exploit_explore(
        jax.random.key(1), fitness, values, state, [LR, ENT], pbt.Explore(fraction=0.25, resample=0.0))
    parents = np.asarray(parents)
    assert set(parents[[3, 1]]) <= {5, 2}  # the top two: 8.0 and 7.0
    keep = [m for m in range(P) if m not in (1, 3)]
    assert (parents[keep] == keep).all()
    for name in state:
        np.testing.assert_array_equal(np.asarray(new_state[name]), np.asarray(state[name])[parents])
    for h in (LR, ENT):
        old, new = np.asarray(values[h.path]), np.asarray(new_values[h.path])
        np.testing.assert_array_equal(new[keep], old[keep])


def test_perturbation_factors_are_exactly_as_set_and_bounds_hold():
    values, state = population()
    explore = pbt.Explore(fraction=0.5, perturb=(0.5, 3.0), resample=0.0)
    fitness = jnp.arange(P, dtype=jnp.float32)
    seen = set()
    for seed in range(20):
        new, _, parents = pbt.exploit_explore(jax.random.key(seed), fitness, values, state, [LR, ENT], explore)
        parents = np.asarray(parents)
        for m in range(P // 2):  # the replaced half
            inherited = np.float32(values[LR.path][parents[m]])
            got = np.float32(new[LR.path][m])
            assert got in (np.float32(inherited * np.float32(0.5)), np.float32(min(inherited * np.float32(3.0), 1e-2)))
            seen.add(round(float(got / inherited), 3))
            assert np.float32(ENT.low) <= new[ENT.path][m] <= np.float32(ENT.high)  # bounds in float32
    assert seen == {0.5, 3.0}  # both factors drawn; 3e-3 x 3 clips to the bound 1e-2
    drawn, _, _ = pbt.exploit_explore(jax.random.key(0), fitness, values, state, [LR, ENT],
                                      pbt.Explore(fraction=0.5, resample=1.0))
    lr = np.asarray(drawn[LR.path])[: P // 2]
    assert ((lr >= 1e-4) & (lr <= 1e-2)).all() and len(set(lr.tolist())) == P // 2


def test_the_step_compiles_once_for_every_fitness_and_key():
    values, state = population()
    step = jax.jit(lambda k, f, v, s: pbt.exploit_explore(k, f, v, s, [LR, ENT]))
    for seed in range(3):
        fitness = jax.random.normal(jax.random.key(seed), (P,))
        values, state, _ = step(jax.random.key(seed), fitness, values, state)
    assert step._cache_size() == 1


@pytest.mark.parametrize("item,needle", [
    ("optim.learning_rate=uniform:1e-2:1e-4", "--hyper 'optim.learning_rate=uniform:1e-2:1e-4' is invalid"),
    ("ent_coef=choice:0,0.01", "use ent_coef=uniform:LOW:HIGH or ent_coef=loguniform:LOW:HIGH"),
    ("ent_coef=loguniform:0:1", "0 < LOW"),
    ("ent_coef", "use FIELD=VALUES"),
])
def test_bad_hyperparameters_are_one_line(item, needle):
    with pytest.raises(jaxac.ConfigError) as err:
        pbt.Hyper.parse(item)
    assert needle in str(err.value) and len(str(err.value).splitlines()) == 1, str(err.value)


def test_a_hyperparameter_must_be_a_float_field_and_explore_settings_are_checked():
    cfg = ppo.Config(env="CartPole-v1")
    LR.check(cfg)
    with pytest.raises(jaxac.ConfigError, match="num_envs is not a float field"):
        pbt.Hyper.parse("num_envs=uniform:1:8").check(cfg)
    with pytest.raises(jaxac.ConfigError, match="not a config field"):
        pbt.Hyper.parse("optim.lr=uniform:0:1").check(cfg)
    for kwargs, needle in ((dict(fraction=0.6), "fraction=0.6"), (dict(perturb=(0.8, -1.0)), "perturb"),
                           (dict(resample=1.5), "resample=1.5")):
        with pytest.raises(jaxac.ConfigError, match=needle):
            pbt.Explore(**kwargs)


# --- PBT runs: the step inside the compiled chunk, through the run session ---

import csv  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from compile_log import chunk_compiles  # noqa: E402
from jaxac import Session, cli  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CFG = ppo.Config(env="CartPole-v1", total_steps=4 * 16 * 12, num_envs=4, rollout_length=16, update_epochs=1,
                 num_minibatches=2, policy=dict(hidden=(16,)))
POP = pbt.Population((LR, ENT), ready=3, explore=pbt.Explore(fraction=0.25), seed=3)
RUN = """
import sys, jax
jax.config.update("jax_num_cpu_devices", int(sys.argv[2]))
from jaxac import Session, pbt
from jaxac.algos import ppo
cfg = ppo.Config(env="CartPole-v1", total_steps=4 * 16 * 12, num_envs=4, rollout_length=16, update_epochs=1,
                 num_minibatches=2, policy=dict(hidden=(16,)))
pop = pbt.Population((pbt.Hyper.parse("optim.learning_rate=loguniform:1e-4:1e-2"),
                      pbt.Hyper.parse("ent_coef=uniform:0:0.05")), ready=3, explore=pbt.Explore(fraction=0.25), seed=3)
if sys.argv[3] == "resume":
    r = Session.resume(sys.argv[1], eval_episodes=2, compile_cache=False).run()
else:
    r = Session("ppo", cfg, seeds=8, out=sys.argv[1], population=pop, eval_episodes=2, compile_cache=False,
                chunk_updates=None).run()
print("done", r.updates, len(r.devices_used) if hasattr(r, "devices_used") else "")
"""


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pbt") / "whole")
    with chunk_compiles() as seen:
        result = Session("ppo", CFG, seeds=P, out=out, population=POP, eval_episodes=2, compile_cache=False).run()
    return out, result, len(seen)


def test_a_pbt_run_exploits_inside_its_one_compiled_chunk(whole):
    out, result, compiles = whole
    assert compiles == 1 and result.updates == CFG.num_updates == 12
    parents = result.metrics["pbt_parent"]
    lr = result.metrics[f"hyper/{LR.path}"]
    for u in range(1, 12):  # values change only after the exploit steps (updates 3, 6, 9), never after 12
        changed = not np.array_equal(lr[:, u], lr[:, u - 1])
        assert changed == (u in (3, 6, 9)) or not changed
    for u in (3, 6, 9):
        copied = np.flatnonzero(parents[:, u - 1] != np.arange(P))
        assert len(copied) == 2  # a quarter of 8
        for m in copied:
            ratio = lr[m, u] / lr[parents[m, u - 1], u - 1]
            assert np.isclose(ratio, 0.8, rtol=1e-6) or np.isclose(ratio, 1.25, rtol=1e-6) or \
                LR.low <= lr[m, u] <= LR.high
    assert (parents[:, 11] == np.arange(P)).all()  # no step at the end of the run
    steps = [u for u in range(12) if (parents[:, u] != np.arange(P)).any()]
    assert steps == [2, 5, 8]  # the parent shows on the exploit step's update only, not before it
    rows = read(os.path.join(out, "lineage.csv"))
    assert len(rows) == 3 * 2 and {r["update"] for r in rows} == {"3", "6", "9"}  # one row per copy
    assert all(r["parent"] != r["member"] for r in rows)
    assert {(int(r["update"]), int(r["member"]), int(r["parent"])) for r in rows} == {
        (u + 1, m, int(parents[m, u])) for u in steps for m in np.flatnonzero(parents[:, u] != np.arange(P))}
    assert result.eval_return.shape == (P,) and np.isfinite(result.eval_return).all()


def test_a_pbt_run_stopped_and_resumed_in_a_new_process_equals_the_uninterrupted_run(whole, tmp_path):
    out, _, _ = whole
    chunks = []
    part = str(tmp_path / "part")
    first = Session("ppo", CFG, seeds=P, out=part, population=POP, eval_episodes=2, compile_cache=False,
                    checkpoint_every=1).run(on_chunk=chunks.append, stop=lambda: len(chunks) >= 2)
    assert first.interrupted and first.updates == 6
    done = subprocess.run([sys.executable, "-c", RUN, part, "1", "resume"], capture_output=True, text=True,
                          timeout=300, cwd=HERE)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("metrics.csv", "lineage.csv"):
        assert open(os.path.join(part, name)).read() == open(os.path.join(out, name)).read(), name


def test_two_cpu_devices_give_the_same_lineage_and_metrics_as_one(whole, tmp_path):
    out, _, _ = whole
    two = str(tmp_path / "two")
    done = subprocess.run([sys.executable, "-c", RUN, two, "2", "new"], capture_output=True, text=True,
                          timeout=300, cwd=HERE)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read(os.path.join(two, "lineage.csv")) == read(os.path.join(out, "lineage.csv"))
    a, b = read(os.path.join(out, "metrics.csv")), read(os.path.join(two, "metrics.csv"))
    for column in ("loss", "episode_return", "pbt_parent"):
        np.testing.assert_allclose([float(r[column]) for r in b], [float(r[column]) for r in a], rtol=1e-4)


@pytest.mark.parametrize("flags,needle", [
    (["--hyper", "num_envs=uniform:1:8"], "num_envs is not a float field"),
    (["--hyper", "optim.learning_rate=loguniform:1e-2:1e-4"], "swap them: optim.learning_rate=loguniform:1e-4:1e-2"),
    (["--hyper", "ent_coef=uniform:0.05:0"], "LOW (0.05) must be below HIGH (0)"),
    (["--hyper", "ent_coef=loguniform:0:0.05"], "loguniform needs 0 < LOW"),
    (["--hyper", "ent_coef=uniform:0:0.1", "--total-steps", "8192", "--ready", "16"],
     "--ready 16 is invalid: the run has 16 updates, so no exploit step would be taken; use at most 15"),
    (["--hyper", "ent_coef=uniform:0:0.1", "--ready", "0"], "--ready 0 is invalid"),
    (["--hyper", "ent_coef=uniform:0:0.1", "--population", "1"], "--population 1 is invalid"),
    ([], "needs at least one --hyper"),
    (["--hyper", "ent_coef=uniform:0:0.1", "--fraction", "0.7"], "fraction=0.7 is invalid"),
    (["--hyper", "ent_coef=uniform:0:0.1", "--chunk-updates", "5"], "a chunk is --ready updates"),
    (["--hyper", "ent_coef=uniform:0:0.1", "--fitness", "best"], "--fitness 'best' is invalid"),
])
def test_bad_pbt_input_fails_before_compiling_with_one_line(flags, needle, tmp_path, capsys):
    out = tmp_path / "never"
    code = cli.main(["pbt", "ppo", "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1, err
    assert not (out / "checkpoints").exists()


def test_the_best_members_lineage_follows_its_parents_back():
    from jaxac import plot

    parents = np.tile(np.arange(3)[:, None], (1, 6))
    parents[2, 1] = 0  # after update 2, member 2 copied member 0
    parents[0, 3] = 1  # after update 4, member 0 copied member 1
    assert plot.best_lineage(parents, ready=2, best=2).tolist() == [0, 0, 2, 2, 2, 2]
    assert plot.best_lineage(parents, ready=2, best=0).tolist() == [1, 1, 1, 1, 0, 0]


def test_plot_draws_a_pbt_runs_population_and_its_best_lineage(whole, tmp_path):
    pytest.importorskip("matplotlib")
    from jaxac import plot

    out, _, _ = whole
    assert cli.main(["plot", out, "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000
    # each hyperparameter on the axis its distribution declares (LR loguniform, ENT uniform)
    assert plot.hyper_scales(out) == {LR.path: "log", ENT.path: "linear"}


def test_a_replaced_member_keeps_the_state_fields_asked_for():
    from flax import struct

    @struct.dataclass
    class Learner:
        params: jax.Array
        buffer: jax.Array
        key: jax.Array

    def member_run(cfg, learner, n):  # no training: the fitness is the member's index
        ret = jnp.broadcast_to(jnp.arange(P, dtype=jnp.float32)[:, None], (P, 3))
        return learner, {"episode_return": ret, "episodes": jnp.ones((P, 3), jnp.int32)}, jnp.ones(P, bool)

    learner = Learner(jnp.arange(P, dtype=jnp.float32) * 10, jnp.arange(P, dtype=jnp.float32) * 100,
                      jax.random.split(jax.random.key(0), P))
    values, _ = population()
    start = pbt.PopState(learner, values, jnp.full(P, jnp.nan), jnp.zeros(P, jnp.int32))
    for keep in ((), ("buffer",)):
        population_ = pbt.Population((LR, ENT), ready=3, seed=1, keep=keep)
        chunk = jax.jit(pbt.population_chunk(member_run, population_, num_updates=12))
        ps, metrics, _ = chunk(CFG, start, jnp.int32(3))
        parents = np.asarray(metrics["pbt_parent"][:, 2])  # the exploit step's update
        assert (np.asarray(metrics["pbt_parent"][:, :2]) == np.arange(P)[:, None]).all()
        replaced = np.flatnonzero(parents != np.arange(P))
        assert set(replaced) == {0, 1} and set(parents[replaced]) <= {6, 7}
        np.testing.assert_array_equal(ps.learner.params, np.arange(P)[parents] * 10)
        own = np.arange(P) * 100
        np.testing.assert_array_equal(ps.learner.buffer, own if keep else own[parents])
        np.testing.assert_array_equal(ps.fitness, np.arange(P)[parents])
        np.testing.assert_array_equal(jax.random.key_data(ps.learner.key), jax.random.key_data(learner.key))
    with pytest.raises(jaxac.ConfigError, match="--keep buffr is invalid"):
        Session("sac", jaxac.sac.Config(env="Pendulum-v1"), seeds=4,
                population=pbt.Population((LR,), keep=("buffr",)))


PBT_CLI = ["pbt", "ppo", "--env", "CartPole-v1", "--total-steps", str(4 * 16 * 60), "--num-envs", "4",
           "--rollout-length", "16", "--update-epochs", "1", "--num-minibatches", "2", "--policy.hidden", "16",
           "--population", "4", "--ready", "5", "--hyper", "optim.learning_rate=loguniform:1e-4:1e-2",
           "--checkpoint-every", "1", "--eval-episodes", "2", "--no-progress", "--compile-cache", "off"]


def test_a_pbt_run_killed_with_sigkill_and_resumed_equals_the_uninterrupted_run(tmp_path):
    import signal
    import time

    whole, part = str(tmp_path / "whole"), str(tmp_path / "part")
    run = lambda *a: subprocess.Popen([sys.executable, "-m", "jaxac.cli", *a], stdout=subprocess.PIPE,  # noqa: E731
                                      stderr=subprocess.PIPE, text=True, cwd=HERE)
    done, killed = run(*PBT_CLI, "--out", whole), run(*PBT_CLI, "--out", part)
    checkpoints, deadline = os.path.join(part, "checkpoints"), time.time() + 240
    while time.time() < deadline and killed.poll() is None:
        if os.path.isdir(checkpoints) and sum(n.isdigit() for n in os.listdir(checkpoints)) >= 3:
            break
        time.sleep(0.02)
    assert killed.poll() is None, "the run ended before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait(60)
    resumed = run("resume", part, "--no-progress", "--compile-cache", "off", "--eval-episodes", "2")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert done.wait(300) == 0, done.stderr.read()[-2000:]
    assert "best member" in out
    for name in ("metrics.csv", "lineage.csv"):
        assert open(os.path.join(part, name)).read() == open(os.path.join(whole, name)).read(), name


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_run_the_same_pbt_as_two_devices_and_stop_and_resume_together(tmp_path):
    """jax.distributed with 2 local CPU processes (gloo), one device each, against one process
    with 2 CPU devices: the same lineage and metrics, byte for byte. SIGTERM reaches process 0
    only; both stop at the same chunk and save, and 2 processes resume the run."""
    import signal
    import time

    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    flags = [*PBT_CLI, "--total-steps", str(4 * 16 * 120)]  # 120 updates: time to be signalled
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    run = lambda *a: subprocess.Popen([sys.executable, "-m", "jaxac.cli", *a], stdout=subprocess.PIPE,  # noqa: E731
                                      stderr=subprocess.PIPE, text=True, cwd=HERE, env=env)

    def job(*args):
        port = _free_port()
        return [run(*args, "--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i))
                for i in range(2)]

    procs = [run(*flags, "--out", one, "--devices", "2")] + job(*flags, "--out", two)
    try:
        deadline, tenth = time.time() + 240, os.path.join(two, "checkpoints", "10")
        while time.time() < deadline and procs[1].poll() is None and not os.path.isdir(tenth):
            time.sleep(0.02)
        assert procs[1].poll() is None, "the run ended before it could be signalled"
        procs[1].send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=300) for p in procs]
        assert procs[0].returncode == 0, outs[0][1][-2000:]
        assert "stopped by SIGTERM" in outs[1][0], outs[1][1][-2000:]
        assert procs[1].returncode == 143, outs[1][1][-2000:]
        # process 1 stopped too, silently, with the status of the signal process 0 caught
        assert procs[2].returncode == 143 and "stopped" not in outs[2][0], outs[2][1][-2000:]
        resumed = job("resume", two, "--no-progress", "--compile-cache", "off", "--eval-episodes", "2")
        outs = [p.communicate(timeout=300) for p in resumed]
    finally:
        for p in procs + locals().get("resumed", []):
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(resumed, outs):
        assert p.returncode == 0, err[-2000:]
    assert "best member" in outs[0][0] and "best member" not in outs[1][0]
    for name in ("metrics.csv", "lineage.csv"):
        assert open(os.path.join(two, name)).read() == open(os.path.join(one, name)).read(), name
    assert sorted(n for n in os.listdir(two) if n.startswith(".lock")) == [".lock", ".lock-1"]


def test_members_are_ranked_by_the_deterministic_policy_when_asked():
    """The step ranks by `member_eval` (here the reverse of the training returns) when the
    population asks for evaluation episodes, else by the training episodes."""
    capacity = 2
    train_return = jnp.arange(P, dtype=jnp.float32)  # training says: the last members are best

    def member_run(cfg, learner, n):
        metrics = {"episodes": jnp.ones((P, capacity), jnp.int32),
                   "episode_return": jnp.broadcast_to(train_return[:, None], (P, capacity))}
        return learner, metrics, jnp.ones((P,), bool)

    def member_eval(cfg, learner, keys):
        assert keys.shape == (P,)
        return -train_return  # evaluation says: the first members are best

    ps = pbt.PopState({"w": jnp.arange(P, dtype=jnp.float32)}, {LR.path: jnp.full((P,), 1e-3, jnp.float32)},
                      jnp.full((P,), jnp.nan, jnp.float32), jnp.zeros((P,), jnp.int32))
    explore = pbt.Explore(fraction=0.25, resample=0.0)
    for episodes, evaluator, bottom, top in ((0, None, {0, 1}, {6, 7}), (3, member_eval, {6, 7}, {0, 1})):
        population = pbt.Population((LR,), ready=2, explore=explore, fitness_episodes=episodes)
        chunk = jax.jit(pbt.population_chunk(member_run, population, 100, evaluator))
        new, metrics, _ = chunk(CFG, ps, jnp.int32(2))
        parents = np.asarray(metrics["pbt_parent"][:, 1])  # the exploit step's update
        assert {m for m in range(P) if parents[m] != m} == bottom and set(parents[sorted(bottom)]) <= top
        want = train_return if evaluator is None else -train_return
        np.testing.assert_array_equal(np.asarray(new.fitness), np.asarray(want)[parents])
    with pytest.raises(jaxac.ConfigError, match="--fitness 'eval:0' is invalid"):
        pbt.Population.parse_fitness("eval:0")


def test_a_pbt_run_with_evaluation_fitness_ranks_by_whole_episodes(tmp_path):
    population = pbt.Population((LR,), ready=3, explore=pbt.Explore(fraction=0.25), seed=3, fitness_episodes=2)
    with chunk_compiles() as seen:
        result = Session("ppo", CFG, seeds=4, population=population, eval_episodes=0, compile_cache=False).run()
    fitness = np.asarray(result.state.fitness)
    assert len(seen) == 1 and np.isfinite(fitness).all()
    # CartPole pays 1 per step: a mean over 2 whole episodes is a multiple of 0.5
    np.testing.assert_array_equal(fitness * 2, np.round(fitness * 2))
    assert pbt.Population.from_dict(population.to_dict()) == population


def test_ready_defaults_to_a_twentieth_of_the_run_and_warns_when_it_is_short():
    """`ready` counts updates for every algorithm; SAC's Pendulum preset takes one env step per
    update, so a small `ready` would exploit every few env steps."""
    from jaxac import config as C
    from jaxac import presets

    sac_cfg = presets.config("sac", "Pendulum-v1")
    assert pbt.Population((LR,)).for_run(sac_cfg).ready == sac_cfg.num_updates // pbt.PERIODS
    assert pbt.Population((LR,)).for_run(CFG).ready == 1  # 12 updates: at least one
    assert pbt.Population((LR,), ready=7).for_run(sac_cfg).ready == 7
    with pytest.warns(C.JaxacWarning, match=r"--ready 2: 9499 exploit steps, each after 2 update\(s\) = 2 env"):
        pbt.Population((LR,), ready=2).check(sac_cfg, 4)
    assert "jaxac: warning: x\n" == cli._one_line_warning("x", C.JaxacWarning, "f.py", 1)
    with pytest.raises(jaxac.ConfigError, match="--ready 12 is invalid: the run has 12 updates"):
        Session("ppo", CFG, seeds=2, population=pbt.Population((LR,), ready=12))


def test_an_extended_pbt_run_goes_on_exploiting_every_ready_updates(whole, tmp_path):
    """`Session.resume(total_steps=)` of a finished population: its exploit steps continue every
    `ready` updates from where it stood, and none follows the last update."""
    import shutil

    out, _, _ = whole
    longer = str(tmp_path / "longer")
    shutil.copytree(out, longer, ignore=shutil.ignore_patterns(".lock*"))
    session = Session.resume(longer, eval_episodes=0, compile_cache=False,
                             total_steps=CFG.total_steps + 6 * CFG.steps_per_update)
    assert session.extended_from == CFG.total_steps and not session.finished
    result = session.run()
    assert result.updates == 18
    rows = read(os.path.join(longer, "lineage.csv"))
    assert sorted({int(r["update"]) for r in rows}) == [3, 6, 9, 15]
    assert rows[:6] == read(os.path.join(out, "lineage.csv"))  # the first 12 updates kept as they were

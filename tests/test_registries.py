"""Registries and the config tree: a critic and an environment defined outside jaxac train
in PPO and SAC from Python and the CLI; nested paths; the algorithms see critics only
through the registry."""

import ast
import dataclasses
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac import cli, critics, presets, runs
from jaxac import config as C
from jaxac.algos import ppo, sac
from jaxac.critics import Head, Particles
from toy_env import Reach

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TINY_PPO = dict(total_steps=4 * 16 * 2, num_envs=4, rollout_length=16, update_epochs=1, num_minibatches=2,
                policy=dict(hidden=(8,)))
TINY_SAC = dict(total_steps=64 + 2 * 2, num_envs=2, learning_starts=64, minibatch_size=16, buffer_size=128,
                policy=dict(hidden=(8,)))


class MeanAbsCritic(Head):
    """A toy critic: one output trained with the absolute error (a median regression)."""

    def init(self, key, obs, action=None):
        return self.mlp(1).init(key, obs if action is None else jnp.concatenate([obs, action], -1))

    def value(self, params, obs, action=None, key=None):
        x = obs if action is None else jnp.concatenate([obs, action.astype(obs.dtype)], -1)
        return self.apply_mlp(self.mlp(1), params, x, key)[..., 0]

    def target(self, params, obs, action=None, key=None):
        return Particles.point(self.value(params, obs, action, key))

    def loss(self, params, obs, action, target, key=None):
        pred = self.value(params, obs, action, key)
        return jnp.abs(pred - target.mean()), {"value": pred}


@critics.register("meanabs", "absolute error, a test's own critic")
@C.group
class MeanAbsSpec(critics.Spec):
    scale: float = C.leaf(1.0, "unused float option, to be vmapped")

    def build(self, ctx):
        return MeanAbsCritic(**self.head(ctx))


def test_algorithm_modules_import_no_concrete_critic():
    concrete = {"scalar", "categorical", "quantile", "gaussian", "flow", "ensemble", "registry", "base"}
    algos = os.path.join(ROOT, "jaxac", "algos")
    for name in os.listdir(algos):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(algos, name)).read())
        for node in ast.walk(tree):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else [])
            for mod in mods:
                parts = mod.split(".")
                assert not (parts[:2] == ["jaxac", "critics"] and len(parts) > 2 and parts[2] in concrete), (name, mod)


@pytest.mark.parametrize("module,tiny", [(ppo, TINY_PPO), (sac, TINY_SAC)], ids=["ppo", "sac"])
def test_a_critic_registered_in_user_code_trains_and_its_floats_vmap(module, tiny):
    cfg = module.Config(env="Pendulum-v1", critic="meanabs", **tiny)
    assert isinstance(cfg.critic, MeanAbsSpec) and C.to_dict(cfg)["critic"]["name"] == "meanabs"
    cfgs = cfg.replace(**{"critic.scale": jnp.array([1.0, 2.0])})
    train = jax.jit(jax.vmap(module.train, in_axes=(jaxac.axes(cfg, **{"critic.scale": 0}), None)))
    _, metrics = train(cfgs, jax.random.key(0))
    loss = metrics["critic_loss" if module is sac else "value_loss"]
    assert loss.shape == (2, cfg.num_updates) and np.isfinite(np.asarray(loss)).all()


def test_an_environment_object_and_a_registered_factory_train():
    _, by_object = jax.jit(ppo.train)(ppo.Config(env=Reach(), env_kwargs=(("target", 0.2),), **TINY_PPO),
                                      jax.random.key(0))
    jaxac.register_env("test/reach", lambda **kw: (Reach(), Reach().default_params().replace(**kw)))
    _, by_name = jax.jit(ppo.train)(ppo.Config(env="test/reach", env_kwargs=(("target", 0.2),), **TINY_PPO),
                                    jax.random.key(0))
    np.testing.assert_array_equal(by_object["loss"], by_name["loss"])  # the same env, the same run
    _, imported = jax.jit(sac.train)(sac.Config(env="toy_env:make_env", **TINY_SAC), jax.random.key(0))
    assert np.isfinite(np.asarray(imported["critic_loss"])).all()
    with pytest.raises(jaxac.ConfigError, match="env="):
        ppo.Config(env="toy_env:no_such_factory")
    with pytest.raises(jaxac.ConfigError, match="environment object"):
        ppo.Config(env=object())


def test_cli_trains_a_user_critic_and_a_user_environment(tmp_path):
    """`--env module:factory` and a critic registered by an imported module, in a fresh process."""
    script = ("import sys, test_registries; from jaxac import cli; "
              "sys.exit(cli.main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]))
    for algo, extra in (("ppo", ["--rollout-length", "16", "--update-epochs", "1", "--num-minibatches", "2"]),
                        ("sac", ["--learning-starts", "64", "--minibatch-size", "16", "--num-envs", "2"])):
        out = subprocess.run([sys.executable, "-c", script, "train", algo, "--env", "toy_env:make_env",
                              "--env-kwarg", "target=0.3", "--critic", "meanabs", "--critic.scale", "2",
                              "--total-steps", "128", "--policy.hidden", "8", "--no-progress",
                              "--out", str(tmp_path / algo), *extra],
                             capture_output=True, text=True, timeout=300, cwd=HERE, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        record = runs.record(str(tmp_path / algo))
        assert record["config"]["env"] == "toy_env:make_env" and record["config"]["critic"]["scale"] == 2.0


def test_ppo_config_is_small_and_grouped():
    top = [f.name for f in dataclasses.fields(ppo.Config)]
    assert len(top) <= 20, top
    assert {"policy", "critic", "optim", "obs", "advantage"} <= set(top)
    assert "learning_rate" not in top and "tqc_drop" not in top


def test_paths_replace_and_round_trip_through_dicts():
    cfg = presets.config("ppo", "CartPole-v1", **{"critic": "hlgauss", "critic.hl_sigma": 0.5,
                                                  "optim.learning_rate": 1e-3, "policy.hidden": (8,)})
    assert (cfg.critic.name, cfg.critic.hl_sigma, cfg.optim.learning_rate) == ("hlgauss", 0.5, 1e-3)
    assert cfg.optim.eps == 1e-5 and cfg.optim.schedule == "linear"  # the rest of the group kept
    assert C.get(cfg, "critic.num_bins") == 101
    same = cfg.replace(critic="hlgauss")  # the same name keeps the options
    assert same.critic.hl_sigma == 0.5
    assert cfg.replace(critic="c51").critic == critics.spec("c51")
    assert C.from_dict(ppo.Config, C.to_dict(cfg)) == cfg
    assert dict(C.paths(cfg))["optim.learning_rate"] == 1e-3
    with pytest.raises(jaxac.ConfigError, match="learning_rate is now optim.learning_rate"):
        presets.config("ppo", "CartPole-v1", learning_rate=1e-3)
    with pytest.raises(jaxac.ConfigError, match=r"unknown config field 'optim\.rate'"):
        cfg.replace(**{"optim.rate": 1.0})
    # several paths are checked once, together: v_min alone would be invalid
    ranged = cfg.replace(**{"critic.v_min": -1.0, "critic.v_max": 1.0})
    assert (ranged.critic.v_min, ranged.critic.v_max) == (-1.0, 1.0)
    with pytest.raises(jaxac.ConfigError, match=r"critic\.v_min and critic\.v_max"):
        cfg.replace(**{"critic.v_min": -1.0})


def test_cli_help_lists_a_registered_critic():
    assert "meanabs" in " ".join(critics.names())
    args = cli.parse_args(["train", "ppo", "--critic", "meanabs", "--critic.scale", "3"])
    assert cli._config_from_args(args).critic == MeanAbsSpec(scale=3.0)


USER_CRITIC = """

from jaxac import config as _C, critics as _critics
from jaxac.critics.scalar import ScalarSpec as _ScalarSpec


@_critics.register("user-scalar-39", "a user's critic, registered when its module is imported")
@_C.group
class UserSpec(_ScalarSpec):
    pass


from jaxac.networks import PolicyNet as _PolicyNet, register_network as _register_network


class UserNet(_PolicyNet):  # the MLP under a user's name, registered when its module is imported
    pass


_register_network("user-net-40", UserNet)
"""


def _user_modules(directory, env_module: str, critic_module: str) -> None:
    """A user's modules in `directory`: toy_env's environment, and a critic registered at import."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(os.path.join(HERE, "toy_env.py")) as fh:
        (directory / f"{env_module}.py").write_text(fh.read())
    (directory / f"{critic_module}.py").write_text(USER_CRITIC)


def _cli_from(cwd, *commands):
    """The exit statuses (and stderr) of `jaxac COMMAND...` run one after another in one fresh
    process in `cwd`, without the tests' directory on its path."""
    script = ("import sys, json; from jaxac import cli; "
              "print(json.dumps([cli.main(c) for c in json.loads(sys.argv[1])]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    import json

    out = subprocess.run([sys.executable, "-c", script, json.dumps(commands)], capture_output=True, text=True,
                         timeout=300, cwd=cwd, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_a_run_on_a_user_environment_is_evaluated_and_resumed_from_another_directory(tmp_path, monkeypatch):
    """`module:factory` and a name registered from Python, with a critic and a policy network
    another module registers: the run records where the modules were imported from
    (env_source, critic_source, network_source), and eval/resume in another directory import
    them from there."""
    import importlib

    from jaxac.session import Session

    _user_modules(tmp_path / "code", "userenv39", "usercritic39")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    module = importlib.import_module("userenv39")
    importlib.import_module("usercritic39")
    jaxac.register_env("test/user-reach", module.make_env)
    dirs = []
    for env in ("userenv39:make_env", "test/user-reach"):
        out = str(tmp_path / env.replace("/", "_").replace(":", "_"))
        cfg = ppo.Config(env=env, env_kwargs=(("target", 0.2),), critic="user-scalar-39", **TINY_PPO)
        cfg = cfg.replace(**{"policy.network": "user-net-40"})
        Session("ppo", cfg, out=out, chunk_updates=1, eval_episodes=0).run(stop=lambda: True)  # half of it
        record = runs.record(out)
        assert record["env_source"]["path"] == record["critic_source"]["user-scalar-39"]["path"] == str(
            tmp_path / "code") == record["network_source"]["user-net-40"]["path"]
        dirs.append(out)
    (tmp_path / "elsewhere").mkdir()
    codes, err = _cli_from(tmp_path / "elsewhere", *[[c, d, *o] for d in dirs for c, o in
                                                       (("resume", ["--no-progress"]), ("eval", ["--episodes", "1"]))])
    assert codes == [0, 0, 0, 0], err[-2000:]
    assert all(runs.record(d)["final_return_per_seed"] for d in dirs)  # resumed to the end
    for module in ("usercritic39", "userenv39"):  # each missing module is one line naming it
        os.remove(tmp_path / "code" / f"{module}.py")
        codes, err = _cli_from(tmp_path / "elsewhere", ["eval", dirs[0]])
        assert codes == [2] and len(err.strip().splitlines()) == 1, err
        assert f"needs module '{module}'" in err and str(tmp_path / "code") in err and "earlier version" not in err


def test_a_run_on_an_environment_object_warns_and_reloads_with_the_object(tmp_path):
    from jaxac import evaluate
    from jaxac.session import Session

    out = str(tmp_path / "run")
    with pytest.warns(UserWarning, match="only by its repr"):
        session = Session("ppo", ppo.Config(env=Reach(), **TINY_PPO), out=out, eval_episodes=0)
    session.run()
    with pytest.raises(jaxac.ConfigError, match="trained on an environment object"):
        runs.load(out)
    returns, _, _ = evaluate.run_dir(out, num_episodes=1, env=Reach())
    assert returns.shape == (1, 1) and np.isfinite(returns).all()


def test_a_wrong_kind_parameter_of_a_user_environment_is_one_line():
    with pytest.raises(jaxac.ConfigError, match=r"target='abc' is invalid: use a finite number"):
        ppo.Config(env="toy_env:make_env", env_kwargs=(("target", "abc"),))
    jaxac.register_env("test/reach-kinds", lambda **kw: (Reach(), Reach().default_params().replace(**kw)))
    with pytest.raises(jaxac.ConfigError, match=r"max_steps=2.5 is invalid: use an integer"):
        ppo.Config(env="test/reach-kinds", env_kwargs=(("max_steps", 2.5),))

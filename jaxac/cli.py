"""Command line: `jaxac train ALGO --env CartPole-v1 --seeds 8 --total-steps 500000 --out runs/cp`.

`jaxac sweep ALGO --grid FIELD=A,B --sample FIELD=DIST --trials N --seeds N --out DIR` takes
every train flag as a fixed value (see `jaxac.sweep_run`); `jaxac resume DIR` continues a run
or a sweep.

Every Config field is a flag, generated from the config tree (so the CLI never drifts from
the API): top-level fields as `--total-steps`, group fields with dotted names
(`--optim.learning-rate`, `--policy.hidden 64 64`), the critic chosen by `--critic c51` with
its own options (`--critic.num-bins 51`). Defaults shown are those in effect: the chosen
environment's preset, then the Config defaults. `--help` lists the chosen critic's options,
`--help-all` every critic's. Built on argparse (standard library): it adds no dependency.

Exit status: 0 done (or nothing to do); 2 bad input, a refused directory or an unreadable
checkpoint (one line on stderr); 3 training stopped at a non-finite value; 4 a file could not
be written (full disk); 128 + N after signal N stopped the run (130 SIGINT, 143 SIGTERM): the
state is saved at the next chunk boundary and `jaxac resume DIR` continues it bit for bit; a
second signal exits at once without saving.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import difflib
import json
import os
import re
import signal
import sys
import time
import warnings
from typing import Any, Dict, List, Optional

from jaxac import config as C
from jaxac import compile_cache, critics, parallel, presets, signals
from jaxac.checkpoint import CheckpointError
from jaxac.envs import registry
from jaxac.runlock import RunLocked

_SKIP = {"env", "env_kwargs", "critic"}  # flags of their own (--env, --env-kwarg, --critic)


def integer(text: str) -> int:
    """An integer flag's value: `100000`, `100_000` or `1e5` (a float that is a whole number)."""
    try:
        return int(text)
    except ValueError:
        value = float(text)  # ValueError: argparse reports "invalid integer value"
        if not value.is_integer():
            raise ValueError(text) from None
        return int(value)


# other tools' names for jaxac's flags (SB3 / RL Zoo, CleanRL, brax), suggested for a misspelling
ALIASES = {"--lr": "--optim.learning-rate", "--learning-rate": "--optim.learning-rate",
           "--total-timesteps": "--total-steps", "--timesteps": "--total-steps", "--n-timesteps": "--total-steps",
           "--num-timesteps": "--total-steps", "--n-envs": "--num-envs", "--n-steps": "--rollout-length",
           "--n-epochs": "--update-epochs", "--num-epochs": "--update-epochs", "--episodes": "--eval-episodes",
           "--max-grad-norm": "--optim.max-grad-norm", "--seeds": "--seed", "--env-id": "--env"}


class _Parser(argparse.ArgumentParser):
    """One line for a bad command line (not the usage block), with the closest flags of this
    (sub)command for an unknown one."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            hints = []
            for arg in message.split(":", 1)[1].split():
                flag = arg.split("=")[0]
                if flag.startswith("--"):
                    close = suggest(flag, _option_strings(self))
                    if close:
                        hints.append(f"{flag}: did you mean {' / '.join(close)}?")
            message += ("; " + "; ".join(hints)) if hints else ""
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:  # a misspelt subcommand or algorithm
            close = difflib.get_close_matches(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)), n=1)
            message += f"; did you mean {close[0]}?" if close else ""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def suggest(flag: str, options: set) -> List[str]:
    """Up to 3 of `options` a user typing `flag` probably meant: another tool's name for it
    (ALIASES), close spellings of the whole flag, and of a group field's own name
    (`--hidden` -> `--policy.hidden`)."""
    options = {o for o in options if not o.startswith("--help")}
    out = [ALIASES[flag]] if ALIASES.get(flag) in options else []
    out += difflib.get_close_matches(flag, sorted(options), n=3, cutoff=0.7)
    by_name = {"--" + o.rsplit(".", 1)[1]: o for o in sorted(options) if "." in o}
    out += [by_name[c] for c in difflib.get_close_matches(flag, sorted(by_name), n=2, cutoff=0.8)]
    return list(dict.fromkeys(o for o in out if o != flag))[:3]


def _option_strings(parser: argparse.ArgumentParser) -> set:
    """Every flag of `parser` (a command's own; subcommands have theirs)."""
    return set(o for o in parser._option_string_actions if o.startswith("--"))


def _leaf(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser that parsed `args` (`jaxac train ppo`'s, `jaxac eval`'s, ...)."""
    for name in ("command", "algo"):
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or getattr(args, name, None) not in sub.choices:
            break
        parser = sub.choices[getattr(args, name)]
    return parser


TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def optional_float(text: str) -> Optional[float]:
    """An optional number flag's value: a float, or `none` for unset (as its help shows it)."""
    return None if text.strip().lower() in ("none", "null", "unset") else float(text)


class _Switch(argparse.Action):
    """A boolean field's flag: `--obs.normalize`, `--no-obs.normalize`, or a value
    (`--obs.normalize true|false`, as a config file or another tool would write it)."""

    def __init__(self, option_strings, dest, **kwargs):
        names = list(option_strings) + ["--no-" + o[2:] for o in option_strings]
        super().__init__(names, dest, nargs="?", metavar="true|false", **kwargs)

    def __call__(self, parser, namespace, value, option_string=None):
        if option_string.startswith("--no-"):
            if value is not None:
                parser.error(f"{option_string} takes no value")
            setattr(namespace, self.dest, False)
            return
        text = "true" if value is None else value.strip().lower()
        if text not in TRUE + FALSE:
            parser.error(f"argument {option_string}: invalid value {value!r}: use true or false")
        setattr(namespace, self.dest, text in TRUE)


class _Integers(argparse.Action):
    """A tuple field's flag: `--policy.hidden 64 64` or `--policy.hidden 64,64` (the form sweep
    grids use); no value is the empty tuple."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs="*", metavar="N", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            out = tuple(integer(p) for v in values for p in v.replace(",", " ").split())
        except ValueError:
            parser.error(f"argument {option_string}: invalid integers {' '.join(values)!r}: use e.g. 64 64 or 64,64")
        setattr(namespace, self.dest, out)


def _flag(path: str) -> str:
    return "--" + path.replace("_", "-")


def _add_field(group, cls, path: str, name: str, value: Any) -> None:
    """One flag for field `name` (of config class `cls`) at dotted `path`, showing `value`."""
    doc, choices = C.field_doc(cls, name)
    kwargs: Dict[str, Any] = dict(dest=path, default=argparse.SUPPRESS)
    annotation = str(cls.__dataclass_fields__[name].type)
    if value is None or "Optional" in annotation or "None" in annotation:  # a number or unset
        kwargs.update(type=optional_float, metavar="X|none")
    elif isinstance(value, bool):
        kwargs["action"] = _Switch
    elif isinstance(value, tuple):
        kwargs["action"] = _Integers
    else:
        kwargs.update(type={int: integer, float: float, str: str}[type(value)],
                      metavar={int: "N", float: "X", str: "S"}[type(value)])
    if choices:  # shown, and checked by the config (a one-line error naming the field)
        kwargs["metavar"] = "{" + ",".join(map(str, choices)) + "}"
    shown = "unset" if value is None else (" ".join(map(str, value)) or "()") if isinstance(value, tuple) else value
    kwargs["help"] = f"{doc} [{shown}]" if doc else f"[{shown}]"
    group.add_argument(_flag(path), **kwargs)


def _add_group(parser, group_cfg, prefix: str, title: str) -> None:
    group = parser.add_argument_group(f"{title} ({type(group_cfg).__name__})")
    for name, value in _fields(group_cfg):
        _add_field(group, type(group_cfg), prefix + name, name, value)


def _fields(cfg):
    return [(f.name, getattr(cfg, f.name)) for f in dataclasses.fields(cfg)]


def _add_config_flags(parser: argparse.ArgumentParser, algo: str, cfg: Any, all_critics: bool) -> None:
    """Flags for the config tree `cfg` (the defaults in effect): the algorithm's own fields,
    then one section per group; the critic section lists `cfg.critic`'s options, or with
    `all_critics` every registered critic's."""
    own = parser.add_argument_group(f"{algo} fields")
    for name, value in _fields(cfg):
        if name not in _SKIP and not C.is_group(value):
            _add_field(own, type(cfg), name, name, value)
    names = ", ".join(critics.names())
    own.add_argument("--critic", dest="critic", default=argparse.SUPPRESS, metavar="NAME",
                     help=f"the critic: {names} [{cfg.critic.name}]")
    for name in cfg.critic_fields():  # further critics (PDPPO's post_critic), chosen by name too
        if name != "critic":
            own.add_argument(_flag(name), dest=name, default=argparse.SUPPRESS, metavar="NAME",
                             help=f"the {name.replace('_', ' ')}: {names} [{getattr(cfg, name).name}]")
    for name, value in _fields(cfg):
        if C.is_group(value) and name != "critic":
            _add_group(parser, value, name + ".", name)
    specs = [cfg.critic] + ([critics.spec(n) for n in critics.names() if n != cfg.critic.name]
                            if all_critics else [])
    seen = set()
    group = parser.add_argument_group("critic (the chosen critic's options; --help-all: every critic's)")
    for spec in specs:
        for name, value in _fields(spec):
            if name not in seen:
                seen.add(name)
                _add_field(group, type(spec), "critic." + name, name, value)


def _parse_env_kwargs(items: List[str]) -> tuple:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise C.ConfigError(f"--env-kwarg {item!r} is invalid: use KEY=VALUE, e.g. max_steps=200.")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        pairs.append((key, parsed))
    return tuple(pairs)


class _Formatter(argparse.HelpFormatter):
    """One line per flag where the terminal allows (a wide help column)."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=44, width=max(100, _terminal_width()))

    def _format_action_invocation(self, action):
        if isinstance(action, _Switch):  # `--x, --no-x` (a value true|false is taken too)
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


def _train_context(argv: List[str]):
    """((command, algorithm), config defaults in effect) for `jaxac train|sweep ALGO ...`: the environment's
    preset and the chosen critic (a first, partial parse of --env, --critic, --no-preset)."""
    if len(argv) < 2 or argv[0] not in ("train", "sweep", "pbt") or argv[1] not in presets.ALGORITHMS:
        return None
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    pre.add_argument("--env", default="CartPole-v1")
    pre.add_argument("--no-preset", action="store_true")
    chosen = presets.ALGORITHMS[argv[1]].Config().critic_fields()
    for name in chosen:
        pre.add_argument(_flag(name), dest=name, default=None)
    try:
        known, _ = pre.parse_known_args(argv[2:])
    except argparse.ArgumentError:  # the real parse reports it
        return (argv[0], argv[1]), presets.ALGORITHMS[argv[1]].Config()
    over = {name: getattr(known, name) for name in chosen if getattr(known, name) in critics.names()}
    with C.unchecked():  # an unknown env shows defaults here; the real parse reports it
        try:
            cfg = presets.config(argv[1], known.env, use_preset=not known.no_preset, **over)
        except (ValueError, TypeError, ImportError):  # the real parse reports it
            cfg = presets.ALGORITHMS[argv[1]].Config(**over)
    return (argv[0], argv[1]), cfg


def _add_run_flags(p: argparse.ArgumentParser, name: str, context, argv: List[str], seeds: bool = True) -> None:
    """The flags of `jaxac train ALGO` (and of `jaxac sweep|pbt ALGO`): run options, then every
    config field when `context` (the command's algorithm and defaults) is this one."""
    p.add_argument("--env", default="CartPole-v1",
                   help="registered name, or module.path:factory giving (env, params)")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="environment parameter override (repeatable)")
    if seeds:
        p.add_argument("--seeds", type=integer, default=1, metavar="N", help="seeds run in one vmapped call [1]")
    p.add_argument("--seed", type=integer, default=0, metavar="N", help="base PRNG seed [0]")
    p.add_argument("--devices", type=integer, default=None, metavar="N",
                   help="devices the seeds are split over [every GPU, or a CPU per core]")
    p.add_argument("--out", default=None, metavar="DIR", help="run directory (config, metrics, TensorBoard, checkpoints)")
    p.add_argument("--no-preset", action="store_true", help="ignore the env's preset")
    p.add_argument("--chunk-updates", type=integer, default=None, metavar="N",
                   help="updates per compiled chunk, the log interval [1%% of the run]")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--checkpoint-every", type=integer, default=10, metavar="N",
                   help="checkpoint every N chunks and at the end [10]")
    p.add_argument("--eval-episodes", type=integer, default=5, metavar="N",
                   help="deterministic-policy episodes per seed at the end (0: none) [5]")
    p.add_argument("--compile-cache", default=None, metavar="DIR|off",
                   help=f"jax's persistent compilation cache: a directory, or off "
                        f"[${compile_cache.ENV}, else {compile_cache.default_dir()}]")
    p.add_argument("--help-all", action="help", help="show every critic's options and exit")
    if context:
        _add_config_flags(p, name, context[1], all_critics="--help-all" in argv)


def _add_process_flags(group) -> None:
    """A multi-process (multi-host) job's flags (`jaxac.distributed`)."""
    group.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                       help="process 0's address in a multi-process job [SLURM's, or one process]")
    group.add_argument("--num-processes", type=integer, default=None, metavar="N", help="processes in the job")
    group.add_argument("--process-id", type=integer, default=None, metavar="I", help="this process (0..N-1)")


def build_parser(argv: Optional[List[str]] = None) -> argparse.ArgumentParser:
    """The `jaxac` argument parser; `argv` decides which algorithm's and critic's flags `train`
    lists (the config groups and the chosen critic's options, with the preset's defaults)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    context = _train_context(argv)
    names = ", ".join(presets.ALGORITHMS)
    parser = _Parser(prog="jaxac", description=__doc__.split("\n")[0] + f" ALGO: {names}.", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help=f"train an algorithm ({names}) over several seeds in one call")
    algos = train.add_subparsers(dest="algo", required=True, metavar="ALGO")
    for name in presets.ALGORITHMS:
        p = algos.add_parser(name, help=f"train {name.upper()}", allow_abbrev=False, formatter_class=_Formatter,
                             usage=f"jaxac train {name} [--env ENV] [--seeds N] [--out DIR] [options]")
        _add_run_flags(p, name, context if context and context[0] == ("train", name) else None, argv)
    sw = sub.add_parser("sweep", help="train settings x seeds of an algorithm, one compiled program per group")
    sweep_algos = sw.add_subparsers(dest="algo", required=True, metavar="ALGO")
    for name in presets.ALGORITHMS:
        p = sweep_algos.add_parser(
            name, help=f"sweep {name.upper()}", allow_abbrev=False, formatter_class=_Formatter,
            usage=f"jaxac sweep {name} --grid FIELD=A,B [--sample FIELD=DIST --trials N] [--seeds N] "
                  f"[--out DIR] [train options]",
            description="Every train flag sets a fixed value; --grid and --sample set the swept ones.")
        g = p.add_argument_group("sweep")
        g.add_argument("--grid", action="append", default=[], metavar="FIELD=A,B,...",
                       help="values of a field, crossed with the other grids (repeatable); tuples as "
                            "64,64:128,128")
        g.add_argument("--sample", action="append", default=[], metavar="FIELD=DIST",
                       help="random search: uniform:LOW:HIGH, loguniform:LOW:HIGH or choice:A,B (repeatable)")
        g.add_argument("--trials", type=integer, default=None, metavar="N", help="draws of the --sample fields")
        g.add_argument("--max-members", type=integer, default=None, metavar="N",
                       help="the most members in one call [as many as fit in memory]")
        g.add_argument("--top", type=integer, default=20, metavar="K", help="settings printed, best first [20]")
        g.add_argument("--json", default=None, metavar="FILE",
                       help="also write per-seed final scores ({env: {setting: [seeds]}}) to FILE")
        _add_process_flags(g)
        _add_run_flags(p, name, context if context and context[0] == ("sweep", name) else None, argv)
    pb = sub.add_parser("pbt", help="population-based training: exploit and explore inside the compiled run")
    pbt_algos = pb.add_subparsers(dest="algo", required=True, metavar="ALGO")
    for name in presets.ALGORITHMS:
        p = pbt_algos.add_parser(
            name, help=f"PBT of {name.upper()}", allow_abbrev=False, formatter_class=_Formatter,
            usage=f"jaxac pbt {name} --population N --ready N --hyper FIELD=DIST [--out DIR] [train options]")
        g = p.add_argument_group("population-based training")
        g.add_argument("--population", type=integer, default=8, metavar="N", help="members [8]")
        g.add_argument("--ready", type=integer, default=None, metavar="N",
                       help="updates between exploit steps [a 20th of the run's updates]")
        g.add_argument("--hyper", action="append", default=[], metavar="FIELD=DIST",
                       help="a float field PBT moves: uniform:LOW:HIGH or loguniform:LOW:HIGH (repeatable)")
        g.add_argument("--fraction", type=float, default=0.25, metavar="X",
                       help="bottom fraction that copies the top fraction [0.25]")
        g.add_argument("--perturb", default="0.8,1.25", metavar="A,B", help="perturbation factors [0.8,1.25]")
        g.add_argument("--resample", type=float, default=0.25, metavar="P",
                       help="probability of drawing afresh instead of perturbing [0.25]")
        g.add_argument("--keep", action="append", default=[], metavar="FIELD",
                       help="a state field a replaced member keeps, e.g. buffer (SAC's replay) [none: copied]")
        g.add_argument("--fitness", default="train", metavar="train|eval:N",
                       help="what ranks members: the recent training episodes' mean return, or the "
                            "deterministic policy's over N fresh episodes at each step [train]")
        _add_process_flags(g)
        _add_run_flags(p, name, context if context and context[0] == ("pbt", name) else None, argv, seeds=False)
    resume = sub.add_parser("resume", help="continue a run from its latest checkpoint, or extend it (--total-steps)")
    resume.add_argument("run_dir", help="the --out directory of the run")
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")
    resume.add_argument("--devices", type=integer, default=None, metavar="N",
                        help="devices the seeds are split over (as for train)")
    resume.add_argument("--eval-episodes", type=integer, default=None, metavar="N",
                        help="deterministic-policy episodes per seed at the end (0: none) [5; a sweep's own]")
    resume.add_argument("--compile-cache", default=None, metavar="DIR|off", help="as for train")
    resume.add_argument("--total-steps", type=integer, default=None, metavar="N",
                        help="extend the run (finished or not) to N env steps per seed [the run's own]; runs only")
    resume.add_argument("--checkpoint", type=integer, default=None, metavar="N",
                        help="continue from the checkpoint of update N (newer ones are set aside) "
                             "[the newest intact one]; runs only")
    rs = resume.add_argument_group("sweeps (a sweep directory)")
    rs.add_argument("--max-members", type=integer, default=None, metavar="N",
                    help="the most members in one call, for batches not yet started [the sweep's]")
    rs.add_argument("--top", type=integer, default=20, metavar="K", help="settings printed, best first [20]")
    rs.add_argument("--json", default=None, metavar="FILE", help="also write per-seed final scores to FILE")
    _add_process_flags(rs)
    ev = sub.add_parser("eval", help="run the deterministic policy of every seed of a saved run")
    ev.add_argument("run_dir", help="the --out directory of the run")
    ev.add_argument("--episodes", type=integer, default=10, help="episodes per seed")
    ev.add_argument("--seed", type=integer, default=0, help="PRNG seed of the evaluation episodes")
    ev.add_argument("--json", default=None, metavar="FILE", help="also write the returns to FILE")
    ev.add_argument("--compile-cache", default=None, metavar="DIR|off", help="as for train")
    ev.add_argument("--checkpoint", type=integer, default=None, metavar="N",
                    help="evaluate the checkpoint of update N [the newest intact one]")
    ev.add_argument("--render", default=None, metavar="FILE.html",
                    help="also write brax's HTML viewer of one episode (brax envs only)")
    ev.add_argument("--render-seed", type=integer, default=0, metavar="N",
                    help="which training seed's policy --render shows")
    pl = sub.add_parser("plot", help="learning curves of runs (mean and 95%% band over seeds) to an image")
    pl.add_argument("run_dirs", nargs="+", help="--out directories of runs (finished or not), or one sweep directory")
    pl.add_argument("-o", "--output", default="curves.png", help="image file (png, svg, pdf)")
    pl.add_argument("--labels", nargs="+", default=None, help="legend labels, one per run")
    pl.add_argument("--points", type=integer, default=50, help="windows along the run")
    pl.add_argument("--title", default=None)
    pl.add_argument("--top", type=integer, default=5, metavar="K",
                    help="a sweep directory: curves of the K best settings, and a sensitivity plot "
                         "(OUTPUT-sensitivity) [5]")
    sub.add_parser("envs", help="list registered environments")
    sub.add_parser("critics", help="list registered critics")
    return parser


def _version() -> str:
    """`jaxac --version`: jaxac's version and the jax it runs on."""
    from importlib import metadata

    import jaxac

    try:
        jax_version = metadata.version("jax")
    except metadata.PackageNotFoundError:
        jax_version = "?"
    return f"jaxac {jaxac.__version__} (jax {jax_version}, python {sys.version.split()[0]})"


def parse_args(argv: List[str]) -> argparse.Namespace:
    """The parsed command line (the train flags depend on its algorithm, env and critic); an
    unknown flag is reported by its subcommand, with that subcommand's closest flags."""
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        _leaf(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _config_overrides(args: argparse.Namespace) -> Dict[str, Any]:
    """The config values given on the command line, by dotted path."""
    own = {f.name for f in dataclasses.fields(presets.ALGORITHMS[args.algo].Config)} - _SKIP
    out = {k: v for k, v in vars(args).items() if k == "critic" or "." in k or k in own}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}


def _config_from_args(args: argparse.Namespace):
    overrides = _config_overrides(args)
    if args.env_kwarg:  # on top of the preset's env kwargs, not instead of them
        base = dict(presets.preset(args.algo, args.env).get("env_kwargs", ())) if not args.no_preset else {}
        overrides["env_kwargs"] = tuple({**base, **dict(_parse_env_kwargs(args.env_kwarg))}.items())
    return presets.config(args.algo, args.env, use_preset=not args.no_preset, **overrides)


def _renamed_flags(argv: List[str], cfg: Any) -> List[str]:
    """`argv` with the flags of renamed fields (`jaxac.config.ALIASES`: `--num-steps`) under
    their new names where `cfg` has them, each said in a one-line note."""
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=")
        old = flag[2:].replace("-", "_") if flag.startswith("--") else None
        new = C.ALIASES.get(old)
        if new and new in type(cfg).__dataclass_fields__:
            renamed = "--" + new.replace("_", "-")
            print(f"jaxac: note: {flag} is now {renamed}; the old name is accepted until the next release",
                  file=sys.stderr)
            arg = renamed + eq + value
        out.append(arg)
    return out


def _old_flags(argv: List[str], critic: Optional[str]) -> Optional[str]:
    """A one-line message for a flag of earlier versions or another critic's option."""
    for arg in argv:
        flag = arg.split("=")[0]
        if not flag.startswith("--"):
            continue
        name = flag[2:].replace("-", "_")
        if name in presets.RENAMED:  # (no flag of today's has an old flat name)
            return f"{flag} is now {_flag(presets.RENAMED[name])}"
        if name.startswith("critic."):
            option = name[len("critic."):]
            owners = [n for n in critics.names() if option in critics.spec(n).__dataclass_fields__]
            if owners and (critic or "scalar") not in owners:
                return f"{flag} is an option of critic {' / '.join(owners)}: add --critic {owners[0]}"
    return None


def cmd_train(args: argparse.Namespace) -> int:
    """`jaxac train`: one run over seeds through a `Session`; returns the exit status."""
    from jaxac.session import Session

    if args.seeds < 1:
        raise C.ConfigError(f"--seeds {args.seeds} is invalid: use at least 1.")
    if args.out and os.path.exists(os.path.join(args.out, "checkpoints")):  # before starting jax
        raise C.ConfigError(f"--out {args.out} already holds a run: continue it with "
                            f"`jaxac resume {args.out}` or choose another directory.")
    parallel.request_devices(args.devices)  # first: building a config may start jax
    cfg = _config_from_args(args)
    session = Session(args.algo, cfg, args.seeds, args.seed, args.out, args.chunk_updates,
                      args.checkpoint_every, args.devices, args.eval_episodes, command=sys.argv,
                      compile_cache=_cache_setting(args))
    _notes(args, cfg)  # once everything is checked: a bad command line stays one line
    return _execute(session, args.no_progress)


def _notes(args: argparse.Namespace, cfg: Any) -> None:
    """One line each (stderr, process 0) for what the command would otherwise do without a word:
    the default environment, --seed given where --seeds was probably meant, nothing saved
    without --out, --total-steps rounded down to whole updates."""
    from jaxac import distributed

    if distributed.current().index != 0:
        return
    given = {a.split("=")[0] for a in getattr(args, "argv", [])}
    notes = []
    if "--env" not in given:
        notes.append(f"no --env: training on {cfg.env}, the default (`jaxac envs` lists the others)")
    if "--seed" in given and "--seeds" not in given and hasattr(args, "seeds"):
        notes.append(f"--seed {args.seed} is the base PRNG seed, and one seed runs; --seeds N runs N seeds")
    if not args.out:
        notes.append("no --out: nothing is saved (metrics, checkpoints); add --out DIR to keep the run")
    trained = cfg.warmup_steps + cfg.num_updates * cfg.steps_per_update
    if "--total-steps" in given and trained != cfg.total_steps:
        warmup = f"{cfg.warmup_steps:,} warm-up steps and " if cfg.warmup_steps else ""
        notes.append(f"--total-steps {cfg.total_steps:,} is rounded down to {trained:,} env steps per seed: "
                     f"{warmup}{cfg.num_updates:,} whole updates of {cfg.steps_per_update:,}")
    for note in notes:
        print(f"jaxac: note: {note}", file=sys.stderr, flush=True)


def cmd_pbt(args: argparse.Namespace) -> int:
    """`jaxac pbt`: a population-based training run; returns the exit status."""
    from jaxac import distributed, pbt
    from jaxac.session import Session

    try:
        factors = tuple(float(f) for f in args.perturb.split(","))
    except ValueError:
        raise C.ConfigError(f"--perturb {args.perturb!r} is invalid: use factors like 0.8,1.25.") from None
    population = pbt.Population(tuple(pbt.Hyper.parse(h) for h in args.hyper), args.ready,
                                pbt.Explore(args.fraction, factors, args.resample), args.seed, tuple(args.keep),
                                pbt.Population.parse_fitness(args.fitness))
    if args.out and os.path.exists(os.path.join(args.out, "checkpoints")):
        raise C.ConfigError(f"--out {args.out} already holds a run: continue it with "
                            f"`jaxac resume {args.out}` or choose another directory.")
    if not args.hyper:
        raise C.ConfigError("jaxac pbt needs at least one --hyper FIELD=uniform:LOW:HIGH (or loguniform:LOW:HIGH).")
    if args.chunk_updates is not None:
        raise C.ConfigError("--chunk-updates is invalid for jaxac pbt: a chunk is --ready updates and its exploit step.")
    if args.population < 2:
        raise C.ConfigError(f"--population {args.population} is invalid: PBT needs at least 2 members.")
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    parallel.request_devices(args.devices)
    cfg = _config_from_args(args)
    session = Session(args.algo, cfg, args.population, args.seed, args.out, None,
                      args.checkpoint_every, args.devices, args.eval_episodes, command=sys.argv,
                      compile_cache=_cache_setting(args), population=population)
    _notes(args, cfg)
    return _execute(session, args.no_progress)


def _pbt_best(session, result) -> str:
    """One line on a PBT run's best member: its fitness, hyperparameters and evaluation."""
    import numpy as np

    from jaxac import parallel

    fitness, values = parallel.host((result.state.fitness, result.state.values))
    best = int(np.nanargmax(np.where(np.isnan(fitness), -np.inf, fitness)))
    values = ", ".join(f"{p}={float(v[best]):.4g}" for p, v in values.items())
    evaluation = (f"; eval return {result.eval_return[best]:.1f}" if result.eval_return is not None else "")
    where = f"; lineage in {session.out}/lineage.csv" if session.out else ""
    episodes = session.population.fitness_episodes
    measure = (f"deterministic policy over {episodes} episodes at the last step" if episodes
               else "recent training return")
    return f"best member {best} (fitness {fitness[best]:.1f}, {measure}): {values}{evaluation}{where}"


def cmd_sweep(args: argparse.Namespace) -> int:
    """`jaxac sweep`: a sweep over settings x seeds; returns the exit status."""
    from jaxac import distributed, sweep, sweep_run

    spec = sweep.Spec.parse(args.grid, args.sample, args.trials)  # before anything starts jax
    if args.seeds < 1:
        raise C.ConfigError(f"--seeds {args.seeds} is invalid: use at least 1.")
    if args.eval_episodes < 1:
        raise C.ConfigError(f"--eval-episodes {args.eval_episodes} is invalid: a sweep ranks settings by "
                            f"their deterministic policy: use at least 1.")
    if args.out and sweep_run.is_sweep(args.out):
        raise C.ConfigError(f"--out {args.out} already holds a sweep: continue it with "
                            f"`jaxac resume {args.out}` or choose another directory.")
    process = distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    parallel.request_devices(args.devices)
    cfg = _config_from_args(args)
    spec.check(cfg)
    sw = sweep_run.Sweep(args.algo, cfg, spec, args.seeds, args.seed, args.out, args.chunk_updates,
                         args.checkpoint_every, args.eval_episodes, args.max_members, devices=args.devices,
                         compile_cache=_cache_setting(args), command=sys.argv)
    _notes(args, cfg)
    return _execute_sweep(sw, args, process)


def _execute_sweep(sw, args: argparse.Namespace, process) -> int:
    """Runs sweep `sw` with a progress bar, prints the ranked settings (process 0)."""
    from jaxac import stream, sweep_run
    from jaxac.session import WriteError

    start = time.perf_counter()
    cfg, say = sw.cfg, (print if process.index == 0 else (lambda *a, **k: None))
    where = f" (process {process.index} of {process.count})" if process.count > 1 else ""
    say(f"sweep {sw.algorithm} on {cfg.env}: {len(sw.settings)} setting(s) x {sw.seeds} seed(s) = "
        f"{sw.members} members in {len(sw.groups)} group(s){where}; planning batches...", flush=True)
    bar = _SweepBar(sw, args.no_progress or process.index != 0)

    def on_batch(index, count, batch):
        bar.close()
        fixed = ", ".join(f"{k}={sweep_run.show(v)}" for k, v in sw.groups[batch.group][0].items())
        devices = sw.local_devices()
        say(f"batch {index + 1} of {count}: {len(batch.ids)} members of group {batch.group}"
            f"{f' ({fixed})' if fixed else ''} on {len(devices)} {devices[0].platform} device(s)", flush=True)
        bar.open(len(batch.ids))

    try:
        result = sw.run(on_chunk=bar.update, on_batch=on_batch)
    except stream.NonFiniteError as err:
        bar.close()
        print(f"jaxac: error: sweep stopped: {err}; set the setting aside or lower its learning rate",
              file=sys.stderr)
        return 3
    except (WriteError, CheckpointError) as err:
        bar.close()
        print(f"jaxac: error: sweep stopped: {err}", file=sys.stderr)
        return 4
    bar.close()
    if result.interrupted:
        by = f" by {signals.name(result.signal)}" if result.signal else ""
        where = f"; resume with: jaxac resume {sw.out}" if sw.out else " (no --out: nothing was saved)"
        print(f"sweep stopped{by}{where}", flush=True)
        return signals.exit_status(result.signal or 2)
    say(f"{len(result.batches)} batch(es), {result.programs} compiled program(s), {result.seconds:.1f} s")
    if process.index == 0:
        say(f"eval return: deterministic policy, {sw.eval_episodes} episode(s) per seed; 95% bootstrap "
            f"interval over seeds; best first")
        say(sweep_run.format_table(result.table, args.top))
        if len(result.table) > args.top:
            say(f"({len(result.table) - args.top} more in {sw.out}/summary.csv)" if sw.out
                else f"({len(result.table) - args.top} more)")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(sweep_run.scores(cfg.env, sw.algorithm, sw.settings, sw.swept(), result.eval_return),
                          fh, indent=2)
        if sw.out:
            say(f"wrote {sw.out}/summary.csv, members.csv, scores.json and runs/ (one run directory per batch)")
    say(f"total wall time {time.perf_counter() - start:.1f} s")
    return 0


class _SweepBar:
    """A tqdm bar per batch over env steps per member (stderr)."""

    def __init__(self, sw, off: bool):
        self.sw, self.off, self.bar = sw, off, None

    def open(self, members: int) -> None:
        if self.off:
            return
        from tqdm import tqdm

        cfg = self.sw.cfg
        total = cfg.warmup_steps + cfg.num_updates * cfg.steps_per_update
        self.bar = tqdm(total=total, unit="step", desc=f"{members} members", dynamic_ncols=True, mininterval=0.5)

    def update(self, progress) -> None:
        if self.bar is not None:
            p = progress.chunk
            self.bar.update(p.env_steps - self.bar.n)
            self.bar.set_postfix_str(f"return {p.mean_return:.1f}, {p.steps_per_second:,.0f} steps/s all members",
                                     refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_resume_sweep(args: argparse.Namespace) -> int:
    """`jaxac resume SWEEPDIR`: the sweep's unfinished batches; returns the exit status."""
    from jaxac import distributed, sweep_run

    if args.checkpoint is not None:
        raise C.ConfigError(f"--checkpoint is for runs: {args.run_dir} is a sweep (its batches resume from "
                            f"their newest intact checkpoints).")
    if args.total_steps is not None:
        raise C.ConfigError(f"--total-steps is for runs: {args.run_dir} is a sweep (its settings were compared "
                            f"at one length); start a sweep of the longer length instead.")
    sweep_run.record(args.run_dir)
    process = distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    parallel.request_devices(args.devices)
    sw = sweep_run.Sweep.resume(args.run_dir, devices=args.devices, max_members=args.max_members,
                                eval_episodes=args.eval_episodes, compile_cache=_cache_setting(args))
    return _execute_sweep(sw, args, process)


def cmd_resume(args: argparse.Namespace) -> int:
    """`jaxac resume DIR`: a run, PBT run or sweep from its newest intact checkpoints."""
    from jaxac import distributed, runs, sweep_run
    from jaxac.session import Session

    if sweep_run.is_sweep(args.run_dir):
        return cmd_resume_sweep(args)

    runs.record(args.run_dir)  # a missing or foreign directory is one line before jax starts
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    parallel.request_devices(args.devices)
    episodes = 5 if args.eval_episodes is None else args.eval_episodes
    session = Session.resume(args.run_dir, args.devices, episodes, checkpoint=args.checkpoint,
                             compile_cache=_cache_setting(args), total_steps=args.total_steps)
    if session.finished:
        more = "" if args.total_steps else f"; extend it with: jaxac resume {args.run_dir} --total-steps N"
        print(f"{args.run_dir} is finished (update {session.cfg.num_updates} of {session.cfg.num_updates}): "
              f"nothing to do; evaluate it with: jaxac eval {args.run_dir}{more}")
        return 0
    if session.extended_from is not None:
        print(f"extending {args.run_dir} from total_steps={session.extended_from:,} to "
              f"{session.env_steps(session.cfg.num_updates):,} env steps per seed "
              f"({session.cfg.num_updates} updates)", flush=True)
    return _execute(session, args.no_progress)


def _cache_setting(args: argparse.Namespace):
    """Session's `compile_cache` for --compile-cache (None: the default place, or the env var)."""
    return True if args.compile_cache is None else args.compile_cache


def _say_damaged(step: int, reason: str) -> None:
    print(f"jaxac: {reason}; trying the one before it", file=sys.stderr, flush=True)


def cmd_eval(args: argparse.Namespace) -> int:
    """`jaxac eval DIR`: the deterministic policy of every seed of a saved run."""
    from jaxac import evaluate

    if args.episodes < 1:
        raise C.ConfigError(f"--episodes {args.episodes} is invalid: use at least 1.")
    compile_cache.enable(args.compile_cache)
    if args.render:  # checked (env, seed) before the evaluation's compile
        ret, length = evaluate.render_dir(args.run_dir, args.render, args.render_seed, args.seed,
                                          args.checkpoint, on_damaged=_say_damaged)
        print(f"{args.render}: seed {args.render_seed}, one episode, return {ret:.2f} (length {length})")
    returns, lengths, step = evaluate.run_dir(args.run_dir, args.episodes, args.seed, args.checkpoint,
                                              on_damaged=_say_damaged)
    print(f"{args.run_dir}: checkpoint at update {step}, deterministic policy, "
          f"{args.episodes} episode(s) per seed")
    for s, (r, n) in enumerate(zip(returns, lengths)):
        print(f"  seed {s}: return {r.mean():.2f} ± {r.std():.2f} (length {n.mean():.0f})")
    seed_means = returns.mean(1)
    print(f"  all seeds: return {returns.mean():.2f} ± {seed_means.std():.2f} (std over seed means), "
          f"std {returns.std():.2f} over all episodes")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"run": args.run_dir, "update": step, "returns": returns.tolist(),
                       "lengths": lengths.tolist(), "mean": float(returns.mean())}, fh, indent=2)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """`jaxac plot`: learning curves of runs, or a sweep's top settings and sensitivity."""
    from jaxac import plot

    if args.labels and len(args.labels) != len(args.run_dirs):
        raise C.ConfigError(f"--labels has {len(args.labels)} labels for {len(args.run_dirs)} runs.")
    if args.points < 1:
        raise C.ConfigError(f"--points {args.points} is invalid: use at least 1.")
    from jaxac import sweep_run

    if len(args.run_dirs) == 1 and sweep_run.is_sweep(args.run_dirs[0]):
        if args.top < 1:
            raise C.ConfigError(f"--top {args.top} is invalid: use at least 1.")
        try:
            curves, sensitivity = plot.plot_sweep(args.run_dirs[0], args.output, args.top, args.points)
        except (FileNotFoundError, ValueError, ImportError) as err:
            raise C.ConfigError(str(err)) from None
        print(f"wrote {curves} (top {args.top} settings) and {sensitivity}")
        return 0
    if len(args.run_dirs) == 1 and os.path.exists(os.path.join(args.run_dirs[0], "lineage.csv")):
        try:
            best = plot.plot_pbt(args.run_dirs[0], args.output, args.points)
        except (FileNotFoundError, ValueError, KeyError, ImportError) as err:
            raise C.ConfigError(str(err)) from None
        print(f"wrote {args.output}: the population's best and median curves, and the hyperparameters "
              f"of member {best}'s lineage")
        return 0
    try:
        runs = [plot.load_run(d) for d in args.run_dirs]
        plot.plot_curves(runs, args.output, args.labels, args.points, args.title)
    except (FileNotFoundError, ValueError, ImportError) as err:
        raise C.ConfigError(str(err)) from None
    print(plot.summary_table(runs))
    print(f"wrote {args.output}")
    return 0


def _execute(session, no_progress: bool) -> int:
    """Runs `session` with a progress bar and prints what happened (exit statuses: see the
    module's docstring)."""
    import numpy as np

    from jaxac import stream
    from jaxac.session import WriteError

    start = time.perf_counter()
    cfg, algo, seeds = session.cfg, session.algorithm, session.seeds
    say = print if session.writer else (lambda *a, **k: None)  # several processes: process 0 reports
    no_progress = no_progress or not session.writer
    unit = "member(s)" if session.population is not None else "seed(s)"
    with signals.exit_on_signals("stopped while compiling: nothing was trained or changed"):
        say(f"compiling {algo} on {cfg.env} for {seeds} {unit}...", flush=True)
        compile_s = session.compile()
    cached = {None: "", True: " (cached: yes)", False: " (cached: no)"}[session.cached]
    for step, reason, path in session.set_aside:
        what = "damaged" if reason == "damaged" else "newer than the one asked for"
        say(f"checkpoint {step} is {what}: set aside (kept) as {path}", flush=True)
    done, devices = session.start_update, session.devices_used
    env_steps = session.env_steps(cfg.num_updates)
    say(f"{algo} on {cfg.env}: {seeds} {unit} x {env_steps:,} env steps"
          f"{f' on {len(devices)} {devices[0].platform} devices' if len(devices) > 1 else ''}"
          f"{f'; resuming at update {done} of {cfg.num_updates}' if session.resuming else ''}; "
          f"compiled in {compile_s:.1f} s{cached}", flush=True)
    try:
        with _progress_bar(algo, seeds, env_steps, no_progress, session.env_steps(done)) as bar:
            result = session.run(on_chunk=bar)
    except stream.NonFiniteError as err:
        kept = (f"the last good checkpoint (update {err.last_checkpoint}) is kept in {err.checkpoint_dir}"
                if err.last_checkpoint is not None else "no checkpoint was saved before it")
        print(f"jaxac: error: training stopped: {err}; {kept}", file=sys.stderr)
        return 3
    except (WriteError, CheckpointError) as err:
        print(f"jaxac: error: training stopped: {err}", file=sys.stderr)
        return 4
    out = session.out
    if result.interrupted:
        by = f" by {signals.name(result.signal)}" if result.signal else ""
        where = f"; resume with: jaxac resume {out}" if out else " (no --out: nothing was saved)"
        say(f"stopped{by} at update {result.updates} of {cfg.num_updates}{where}", flush=True)
        return signals.exit_status(result.signal or 2)  # 2: SIGINT's status, for a `stop` callback
    say(f"trained in {result.train_seconds:.1f} s: {result.env_steps_per_second:,.0f} env steps/s over "
          f"all seeds", flush=True)
    finals = result.final_return
    say(f"final return (training episodes in the last 5% of updates): "
          f"{np.nanmean(finals):.1f} ± {np.nanstd(finals):.1f} over {seeds} {unit}")
    if result.eval_return is not None:
        evals = result.eval_return
        say(f"eval return (deterministic policy, {session.eval_episodes} episodes per seed): "
              f"{evals.mean():.1f} ± {evals.std():.1f} over {seeds} {unit}")
    if session.population is not None:
        say(_pbt_best(session, result))
    if out:
        say(f"wrote {out}/metrics.csv, {out}/config.json, {out}/tb (TensorBoard) and {out}/checkpoints")
    say(f"total wall time {time.perf_counter() - start:.1f} s")
    return 0


@contextlib.contextmanager
def _progress_bar(algo: str, seeds: int, total_steps: int, off: bool, initial: int = 0):
    """A tqdm bar over env steps per seed (rate over all seeds, ETA, mean return over seeds);
    yields the per-chunk callback. tqdm: small, ubiquitous, and it handles terminals, pipes
    and notebooks; it writes to stderr so stdout stays parseable."""
    if off:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total_steps, initial=initial, unit="step", desc=f"{algo} {seeds} seed(s)",
              dynamic_ncols=True, mininterval=0.5) as bar:
        def on_chunk(p):
            bar.update(p.env_steps - bar.n)
            bar.set_postfix_str(f"return {p.mean_return:.1f}, {p.steps_per_second:,.0f} steps/s all seeds",
                                refresh=True)
        yield on_chunk


def cmd_envs(args: argparse.Namespace) -> int:
    """`jaxac envs`: the registered environments, one per line."""
    print("\n".join(registry.registered()))
    return 0


def cmd_critics(args: argparse.Namespace) -> int:
    """`jaxac critics`: the registered critics with their description and reference."""
    for name, entry in critics.entries().items():
        print(f"{name:10s} {entry.description} ({entry.reference})")
    return 0


# subcommand -> its function (argparse's `command`); each returns the exit status
COMMANDS = {"train": cmd_train, "sweep": cmd_sweep, "pbt": cmd_pbt, "resume": cmd_resume, "eval": cmd_eval,
            "plot": cmd_plot, "envs": cmd_envs, "critics": cmd_critics}


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """jaxac's own warnings as one line (`jaxac: warning: ...`), others as Python shows them."""
    if issubclass(category, C.JaxacWarning):
        return f"jaxac: warning: {message}\n"
    return _python_formatwarning(message, category, filename, lineno, line)


_python_formatwarning = warnings.formatwarning


def main(argv: Optional[List[str]] = None) -> int:
    """The `jaxac` command: runs `argv` (default: the process's) and returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if os.getcwd() not in sys.path:  # `--env my_module:make_env` finds my_module where the command runs, as `python -m` would
        sys.path.append(os.getcwd())
    context = _train_context(argv)
    if context:
        argv = _renamed_flags(argv, context[1])
        message = _old_flags(argv, context[1].critic.name)
        if message:
            print(f"jaxac: error: {message}", file=sys.stderr)
            return 2
    args = parse_args(argv)
    args.argv = argv  # what was typed (notes about flags left out)
    warnings.formatwarning = _one_line_warning
    signals.raise_on_sigterm()  # between a run's phases too, SIGTERM ends with one line
    try:
        return COMMANDS[args.command](args)
    except (C.ConfigError, registry.UnknownEnvironmentError, CheckpointError, RunLocked) as err:
        print(f"jaxac: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside a run's chunks (start-up, evaluation): nothing to save
        print("\njaxac: interrupted", file=sys.stderr)
        return 130
    except signals.Terminated:  # e.g. between compiling and the first chunk
        print("\njaxac: stopped by SIGTERM outside training: nothing to save", file=sys.stderr)
        return signals.exit_status(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())

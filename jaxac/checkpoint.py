"""Full-state checkpoints with orbax: everything a run needs to continue bit for bit.

    checkpoint.save(run_dir / "checkpoints", update, state, meta)
    state, meta = checkpoint.restore(run_dir / "checkpoints", like=state0, expect=meta0)

`state` is the whole vmapped training state of every seed (parameters, optimiser states,
target networks, temperature, replay buffer, env states, PRNG keys, counters). Saves are
atomic (orbax writes to a temporary directory and renames it) and keep the last `keep`.
`meta` is a JSON dict stored beside the state (algorithm, config, seeds) with a digest of the
arrays; `restore` checks it against `expect` and the state's structure, shapes and dtypes
against `like`, and raises `CheckpointError` naming the difference; nothing on disk is
touched by a failed restore. A checkpoint whose files cannot be read or whose arrays do not
match the digest is damaged: `load` then falls back to the newest intact one, and
`set_aside` moves a damaged one out of the way (it is never deleted).

Typed PRNG keys are stored as their raw `uint32` key data and re-wrapped on restore.

With several processes (`jax.distributed`) every process calls `save` with the whole state
(gathered from all of them) and orbax's primary process writes it; every process reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import jax
import numpy as np

from jaxac import config as C


class CheckpointError(RuntimeError):
    """A missing, unreadable or incompatible checkpoint, or one that could not be written."""


class DamagedCheckpoint(CheckpointError):
    """A checkpoint whose files cannot be read or do not match the digest saved with them."""


SET_ASIDE = "-set-aside"  # damaged or superseded checkpoints go to <directory>-set-aside/<step>


class Checkpoint(NamedTuple):
    """What `load` returns: the restored state, its metadata, its update step and the metrics
    saved with it."""

    state: Any
    meta: Dict[str, Any]
    step: int
    history: Dict[str, np.ndarray]  # the metrics saved with it ({} if none)


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_saveable(state: Any) -> Any:
    """Numpy arrays (keys as their raw data), gathered from every process's devices."""
    from jaxac import parallel

    return parallel.host(state)


def digest(tree: Any) -> str:
    """A hash of every leaf's bytes, shape and dtype in tree order: flipped bytes in a file
    that orbax reads without complaint are still caught."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        leaf = np.ascontiguousarray(leaf)
        h.update(f"{leaf.dtype}{leaf.shape}".encode())
        h.update(leaf.tobytes())
    return h.hexdigest()


def _closed_loop_callback(unraisable: Any) -> bool:
    """An array read that orbax gave up on (a damaged checkpoint) completing after orbax
    closed its event loop: tensorstore's callback then fails with nothing left to tell."""
    value = unraisable.exc_value
    return isinstance(value, RuntimeError) and str(value) == "Event loop is closed"


def _drop_closed_loop_callbacks() -> None:
    """Installs, once, a filter of `sys.unraisablehook` that drops `_closed_loop_callback`s
    (dozens of tracebacks after a damaged read) and passes everything else on."""
    previous = sys.unraisablehook
    if getattr(previous, "jaxac_filter", False):
        return

    def hook(unraisable):
        if not _closed_loop_callback(unraisable):
            previous(unraisable)

    hook.jaxac_filter = True
    sys.unraisablehook = hook


def _orbax_error(record: Any) -> bool:
    """An error orbax logs (with a traceback) from a thread of a save or restore that then
    raises it to the caller, which reports it in one line."""
    import logging

    return record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in (record.pathname or "")


class _DropOrbaxErrors:
    """A logging filter: drops `_orbax_error` records (they can arrive after the call that
    raised, from orbax's threads, so the filter stays installed)."""

    def filter(self, record: Any) -> bool:
        return not _orbax_error(record)


@contextlib.contextmanager
def _quiet_orbax() -> Iterator[None]:
    """orbax logs every failure of its background threads with a traceback before raising
    it; the caller reports the failure in one line instead."""
    import logging

    _drop_closed_loop_callbacks()
    log = logging.getLogger("absl")
    if not any(isinstance(f, _DropOrbaxErrors) for f in log.filters):
        log.addFilter(_DropOrbaxErrors())
    yield


def _manager(directory: str, keep: int):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def _cause(err: BaseException) -> str:
    """The operating system's words for an orbax/tensorstore error (they wrap errno)."""
    text = str(err)
    code = re.search(r"os_error_code='?(\d+)", text)
    if code:
        return os.strerror(int(code.group(1)))
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    status = re.match(r"([A-Z_]{4,}): ", text)  # tensorstore: CODE: context: "path": ...: reason [spec]
    if status:
        reason = re.split(r'"\s*:\s*', text.split(" [tensorstore_spec=")[0][status.end():])[-1]
        return f"{status.group(1).lower().replace('_', ' ')}: {reason.splitlines()[0][:200]}"
    return f"{type(err).__name__}: {text.splitlines()[0][:300]}" if text else type(err).__name__


def save(directory: str, step: int, state: Any, meta: Dict[str, Any], keep: int = 3,
         history: Optional[Dict[str, np.ndarray]] = None) -> None:
    """Saves `state`, `meta` and optionally the metrics `history` so far (numpy arrays, e.g.
    [seeds, updates]) as checkpoint `step` (the update count), atomically.

    Raises CheckpointError (one line: the path and the cause) if it cannot be written; the
    half-written temporary directory is removed and earlier checkpoints are untouched."""
    import orbax.checkpoint as ocp

    saveable = _to_saveable(state)
    history = {k: np.asarray(v) for k, v in (history or {}).items()}
    meta = {**meta, "digest": {"state": digest(saveable), "history": digest(history)}}
    items = dict(state=ocp.args.PyTreeSave(saveable), meta=ocp.args.JsonSave(meta))
    if history:
        items["history"] = ocp.args.PyTreeSave(history)
    try:
        with _quiet_orbax(), _manager(directory, keep) as mngr:
            mngr.save(step, args=ocp.args.Composite(**items))
            mngr.wait_until_finished()
    except Exception as err:  # noqa: BLE001 - orbax/tensorstore raise many types
        for name in os.listdir(directory) if os.path.isdir(directory) else ():
            if name.startswith(f"{step}.orbax-checkpoint-tmp"):
                shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
        raise CheckpointError(f"checkpoint {step} could not be written to {os.path.abspath(directory)}: "
                              f"{_cause(err)}") from None


def steps(directory: str) -> List[int]:
    """Every checkpoint directory's step, oldest first (complete or not: see `load`)."""
    if not os.path.isdir(directory):
        return []
    return sorted(int(n) for n in os.listdir(directory)
                  if n.isdigit() and os.path.isdir(os.path.join(directory, n)))


def check_step(directory: str, step: int) -> None:
    """CheckpointError unless `directory` has a checkpoint of update `step` (asked for by a
    user: checked before anything compiles)."""
    found = steps(directory)
    if step not in found:
        raise CheckpointError(f"no checkpoint {step} in {directory}; it has {_listing(found)}")


def latest_step(directory: str) -> Optional[int]:
    """The newest checkpoint's step, or None (it may be damaged: `load` checks)."""
    found = steps(directory)
    return found[-1] if found else None


def _read(directory: str, step: int, template: Any, expect: Dict[str, Any]) -> Tuple[Any, Dict[str, Any], Dict]:
    """(arrays like `template`, meta, history) of checkpoint `step`, checked; `template` may be
    a function of the checkpoint's meta that gives it."""
    import orbax.checkpoint as ocp

    path = os.path.join(os.path.abspath(directory), str(step))
    try:
        with _quiet_orbax(), _manager(directory, 1000) as mngr:
            meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
            _check_meta(meta, expect, directory)
            if callable(template):
                template = template(meta)
            raw = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore()))["state"]
            history = {}
            if os.path.isdir(os.path.join(path, "history")):
                history = mngr.restore(step, args=ocp.args.Composite(
                    history=ocp.args.PyTreeRestore()))["history"]
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - orbax/tensorstore raise many types on bad files
        raise DamagedCheckpoint(f"checkpoint {step} in {directory} cannot be read: {_cause(err)}") from None
    if not isinstance(meta, dict):
        raise DamagedCheckpoint(f"checkpoint {step} in {directory} cannot be read: its metadata is not a record")
    restored = _fill(template, raw, directory)
    _check_arrays(restored, template, directory)
    history = {k: np.asarray(v) for k, v in (history or {}).items()}
    saved = meta.get("digest")  # absent in checkpoints of earlier versions
    if saved and (saved.get("state") != digest(restored) or saved.get("history") != digest(history)):
        raise DamagedCheckpoint(f"checkpoint {step} in {directory} is damaged: its data do not match "
                                f"the digest saved with it")
    return restored, meta, history


def load(directory: str, like: Any, expect: Optional[Dict[str, Any]] = None, step: Optional[int] = None,
         on_damaged: Optional[Callable[[int, str], Any]] = None) -> Checkpoint:
    """Checkpoint `step`, or by default the newest intact one: each damaged newer one is
    passed to `on_damaged(step, reason)` and skipped. The state is shaped like `like`.

    Raises CheckpointError if there is none, if the one asked for is damaged (the message lists
    the intact ones) or if none is intact, and if a checkpoint's `meta` differs from `expect`
    on a shared key or its arrays do not match `like`'s structure, shapes and dtypes. Nothing
    on disk is changed (see `set_aside`). `like` may be a function of a checkpoint's meta that
    gives the state it is shaped like (a run extended since it was written: see EXTENSIBLE)."""
    found = steps(directory)
    if not found:
        raise CheckpointError(f"no checkpoint in {directory}")
    like_of = like if callable(like) else (lambda meta: like)
    template = (lambda meta: _to_saveable(like(meta))) if callable(like) else _to_saveable(like)

    if step is not None:
        if step not in found:
            raise CheckpointError(f"no checkpoint {step} in {directory}; it has {_listing(found)}")
        try:
            restored, meta, history = _read(directory, step, template, expect or {})
        except DamagedCheckpoint as err:
            intact = [s for s in found if s != step and _intact(directory, s, template, expect or {})]
            choose = f"intact: {_listing(intact)} (choose one with --checkpoint N)" if intact else "no other is intact"
            raise DamagedCheckpoint(f"{err}; {choose}") from None
    else:
        damaged = []
        for candidate in reversed(found):
            try:
                restored, meta, history = _read(directory, candidate, template, expect or {})
                step = candidate
                break
            except DamagedCheckpoint as err:
                damaged.append(str(err))
                if on_damaged:
                    on_damaged(candidate, str(err))
        else:
            raise DamagedCheckpoint(f"no intact checkpoint in {directory}: " + "; ".join(damaged))
    like = like_of(meta)
    leaves = [jax.random.wrap_key_data(r, impl=jax.random.key_impl(l)) if _is_key(l) else jax.numpy.asarray(r)
              for r, l in zip(jax.tree.leaves(restored), jax.tree.leaves(like))]
    return Checkpoint(jax.tree.unflatten(jax.tree.structure(like), leaves), meta, step, history)


def intact(directory: str, step: int, shapes: Any, expect: Optional[Dict[str, Any]] = None) -> bool:
    """Checkpoint `step` reads back whole and matches `shapes` (a state's shapes and dtypes,
    `jax.eval_shape`'s ShapeDtypeStructs) and `expect`: the check `load` makes, without a state."""
    def template(s):
        if _is_key(s):
            s = jax.eval_shape(jax.random.key_data, s)
        return np.zeros(s.shape, s.dtype)

    return _intact(directory, step, jax.tree.map(template, shapes), expect or {})


def _intact(directory: str, step: int, template: Any, expect: Dict[str, Any]) -> bool:
    try:
        _read(directory, step, template, expect)
        return True
    except CheckpointError:
        return False


def _listing(found: List[int]) -> str:
    return ", ".join(map(str, found)) if found else "none"


def restore(directory: str, like: Any, expect: Optional[Dict[str, Any]] = None,
            step: Optional[int] = None) -> Tuple[Any, Dict[str, Any], int]:
    """(state shaped like `like`, meta, step) of `load`: checkpoint `step`, or the newest intact."""
    found = load(directory, like, expect, step)
    return found.state, found.meta, found.step


def set_aside(directory: str, step: int, reason: str) -> str:
    """Moves checkpoint `step` out of `directory` (never deleting it), to
    `<directory>-set-aside/<step>-<reason>`; returns the new path."""
    aside = os.path.abspath(directory).rstrip(os.sep) + SET_ASIDE
    os.makedirs(aside, exist_ok=True)
    target = os.path.join(aside, f"{step}-{reason}")
    n = 1
    while os.path.exists(target):
        n += 1
        target = os.path.join(aside, f"{step}-{reason}-{n}")
    os.rename(os.path.join(directory, str(step)), target)
    return target


EXTENSIBLE = ("total_steps",)  # config fields a run may change when extended (`jaxac resume --total-steps`)


def _comparable(key: str, value: Any) -> Any:
    """`value` of meta entry `key` as compared: a config without the fields an extension
    changes, renamed fields under their new names (`jaxac.config.ALIASES`)."""
    if key == "config" and isinstance(value, dict):
        renamed = {C.ALIASES.get(k, k) if C.ALIASES.get(k) not in value else k: v for k, v in value.items()}
        return {k: v for k, v in renamed.items() if k not in EXTENSIBLE}
    return value


def _older(saved: Any, want: Any) -> Any:
    """`want` without the config fields a checkpoint of an earlier version does not have
    (fields added since, which it trained with at their defaults), at every depth."""
    if not (isinstance(saved, dict) and isinstance(want, dict)):
        return want
    return {k: _older(saved[k], v) for k, v in want.items() if k in saved}


def _check_meta(meta: Dict[str, Any], expect: Dict[str, Any], directory: str) -> None:
    for key, want in expect.items():
        if key == "config" and key in meta:
            want = _older(_comparable(key, meta[key]), want)
        if key in meta and _comparable(key, meta[key]) != _comparable(key, want):
            raise CheckpointError(
                f"checkpoint in {directory} is incompatible: {key} is {meta[key]!r}, this run has {want!r}"
            )


def _entry(node: Any, key: Any) -> Any:
    """The child of an untyped restored node (dicts and lists) at one step of a jax key path."""
    name = getattr(key, "name", getattr(key, "key", getattr(key, "idx", None)))
    if isinstance(node, dict):
        return node[name] if name in node else node[str(name)]
    return node[name]


def _fill(template: Any, raw: Any, directory: str) -> Any:
    """`template`'s structure with its leaves read by path from `raw`, the checkpoint as orbax
    restores it untyped (dicts and lists). A node without leaves (a feed-forward policy's
    carry) is not looked up, so checkpoints from before such a node was added still read."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, _ in flat:
        node = raw
        try:
            for key in path:
                node = _entry(node, key)
        except (KeyError, IndexError, TypeError):
            raise CheckpointError(f"checkpoint in {directory} is incompatible: it has no "
                                  f"{jax.tree_util.keystr(path)}") from None
        leaves.append(node)
    if len(jax.tree.leaves(raw)) != len(leaves):
        raise CheckpointError(f"checkpoint in {directory} is incompatible: its state has another structure")
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _check_arrays(restored: Any, template: Any, directory: str) -> None:
    if jax.tree.structure(restored) != jax.tree.structure(template):
        raise CheckpointError(f"checkpoint in {directory} is incompatible: its state has another structure")
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(template)[0]]
    for path, r, t in zip(paths, jax.tree.leaves(restored), jax.tree.leaves(template)):
        r = np.asarray(r)
        if r.shape != t.shape or r.dtype != t.dtype:
            raise CheckpointError(
                f"checkpoint in {directory} is incompatible at {jax.tree_util.keystr(path)}: "
                f"{r.dtype}{r.shape} stored, {t.dtype}{t.shape} expected"
            )

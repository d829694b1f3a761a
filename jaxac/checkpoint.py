"""Full-state checkpoints with orbax: everything a run needs to continue bit for bit.

    checkpoint.save(run_dir / "checkpoints", update, state, meta)
    state, meta = checkpoint.restore(run_dir / "checkpoints", like=state0, expect=meta0)

`state` is the whole vmapped training state of every seed (parameters, optimiser states,
target networks, temperature, replay buffer, env states, PRNG keys, counters). Saves are
atomic (orbax writes to a temporary directory and renames it) and keep the last `keep`.
`meta` is a JSON dict stored beside the state (algorithm, config, seeds); `restore` checks it
against `expect` and the state's structure, shapes and dtypes against `like`, and raises
`CheckpointError` naming the difference; nothing on disk is touched by a failed restore.

Typed PRNG keys are stored as their raw `uint32` key data and re-wrapped on restore.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import jax
import numpy as np


class CheckpointError(RuntimeError):
    """A missing, unreadable or incompatible checkpoint (the message says which)."""


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_saveable(state: Any) -> Any:
    return jax.tree.map(lambda x: np.asarray(jax.random.key_data(x) if _is_key(x) else x), state)


def _manager(directory: str, keep: int):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(directory: str, step: int, state: Any, meta: Dict[str, Any], keep: int = 3,
         history: Optional[Dict[str, np.ndarray]] = None) -> None:
    """Saves `state`, `meta` and optionally the metrics `history` so far (numpy arrays, e.g.
    [seeds, updates]) as checkpoint `step` (the update count), atomically."""
    import orbax.checkpoint as ocp

    items = dict(state=ocp.args.PyTreeSave(_to_saveable(state)), meta=ocp.args.JsonSave(meta))
    if history:
        items["history"] = ocp.args.PyTreeSave({k: np.asarray(v) for k, v in history.items()})
    with _manager(directory, keep) as mngr:
        mngr.save(step, args=ocp.args.Composite(**items))
        mngr.wait_until_finished()


def latest_step(directory: str) -> Optional[int]:
    """The newest complete checkpoint's step, or None."""
    if not os.path.isdir(directory):
        return None
    with _manager(directory, 1000) as mngr:
        return mngr.latest_step()


def restore_history(directory: str, step: int) -> Dict[str, np.ndarray]:
    """The metrics history saved with checkpoint `step` ({} if none was saved)."""
    import orbax.checkpoint as ocp

    path = os.path.join(os.path.abspath(directory), str(step), "history")
    if not os.path.isdir(path):
        return {}
    try:
        with _manager(directory, 1000) as mngr:
            out = mngr.restore(step, args=ocp.args.Composite(history=ocp.args.PyTreeRestore()))["history"]
    except Exception as err:  # noqa: BLE001
        raise CheckpointError(f"metrics history of checkpoint {step} in {directory} cannot be read: "
                              f"{type(err).__name__}") from None
    return {k: np.asarray(v) for k, v in out.items()}


def restore(directory: str, like: Any, expect: Optional[Dict[str, Any]] = None,
            step: Optional[int] = None) -> Tuple[Any, Dict[str, Any], int]:
    """(state shaped like `like`, meta, step) from checkpoint `step` (default: the latest).

    Raises CheckpointError if there is none, it cannot be read, its `meta` differs from
    `expect` on a shared key, or its arrays do not match `like`'s structure/shapes/dtypes.
    """
    import orbax.checkpoint as ocp

    step = latest_step(directory) if step is None else step
    if step is None:
        raise CheckpointError(f"no checkpoint in {directory}")
    try:
        with _manager(directory, 1000) as mngr:
            meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
            _check_meta(meta, expect or {}, directory)
            template = _to_saveable(like)
            restored = mngr.restore(step, args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(template)))["state"]
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - orbax/tensorstore raise many types on bad files
        raise CheckpointError(f"checkpoint {step} in {directory} cannot be read: "
                              f"{type(err).__name__}: {str(err).splitlines()[0][:300]}") from None
    _check_arrays(restored, template, directory)
    leaves = [jax.random.wrap_key_data(r, impl=jax.random.key_impl(l)) if _is_key(l) else jax.numpy.asarray(r)
              for r, l in zip(jax.tree.leaves(restored), jax.tree.leaves(like))]
    return jax.tree.unflatten(jax.tree.structure(like), leaves), meta, step


def _check_meta(meta: Dict[str, Any], expect: Dict[str, Any], directory: str) -> None:
    for key, want in expect.items():
        if key in meta and meta[key] != want:
            raise CheckpointError(
                f"checkpoint in {directory} is incompatible: {key} is {meta[key]!r}, this run has {want!r}"
            )


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

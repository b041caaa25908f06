"""Ray, the optional engine that runs experiments beyond one process: a session and a task runner.

A command that runs on Ray (``policygrad sweep``, ``tournament --backend ray``, ``compare --backend
ray``) opens :func:`ray_session`: with an address it joins an existing cluster (``ray start --head``
elsewhere) and leaves it running; without one it starts a local Ray with ``cpus`` CPUs on the spot
and shuts it down at the end. Ray's dashboard is off and its usage statistics are off unless the
environment turns them on (``RAY_USAGE_STATS_ENABLED=1``); nothing is downloaded.

Joining a cluster fails fast, in one line, where ``ray.init`` would retry for 20 s or more: a
:class:`ConnectionError` when nothing answers at the address, a :class:`PermissionError` when the
cluster refuses this machine's authentication token. Ray 2.60 never sends a token to an address
named explicitly unless ``RAY_AUTH_MODE=token`` is set here (the token itself from
``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``); docs/sweeps.md gives the recipe.

:func:`run_tasks` runs one Ray task per item (a match of a tournament, a training run of
``compare``) and hands the results back in the items' order, so that a seed gives the same numbers
on either backend. A task whose worker process dies is run once more (Ray's ``max_retries``); if it
dies again its result is ``on_crash(item, error)``.

Ray is the optional extra ``ray``: without it, :func:`import_ray` raises
:class:`~policygrad.opponents.external.MissingExtraError` saying how to install it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any, Callable, Iterator

import torch

from .opponents.external import MissingExtraError, install_hint

__all__ = ["BACKENDS", "import_ray", "ray_session", "run_tasks", "check_backend"]

BACKENDS = ("local", "ray")


def import_ray(what: str = "this command"):
    """The ``ray`` module, or :class:`MissingExtraError` naming the extra that installs it."""
    try:
        import ray
    except ImportError as e:
        raise MissingExtraError(f"{what} needs Ray, which is not installed ({e}); install it with: {install_hint('ray')}") from None
    return ray


def check_backend(backend: str, address: str | None) -> None:
    """Refuse an unknown backend, or an address without the ray backend, before any work."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ValueError(f"an address ({address}) is for the ray backend; add --backend ray, or drop --address")


@contextlib.contextmanager
def ray_session(address: str | None = None, cpus: int | None = None, what: str = "this command") -> Iterator[Any]:
    """Ray for the duration of a ``with``: joins the cluster at ``address``, or starts a local Ray
    with ``cpus`` CPUs (None: all of this machine's) and shuts it down on exit. Inside a session
    already open (a test's, a caller's), it uses that one and leaves it open."""
    if cpus is not None and (not isinstance(cpus, int) or isinstance(cpus, bool) or cpus < 1):
        raise ValueError(f"cpus must be an integer >= 1, got {cpus!r}")
    ray = import_ray(what)
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report leaves this machine unless asked for
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": True}
    if address:
        _check_cluster(ray, address)
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", num_cpus=cpus, **kwargs)  # a new local Ray, even when a cluster runs on this machine
    except ConnectionError as e:
        raise ConnectionError(f"cannot reach the Ray cluster at {address}: {e}; start one with `ray start --head` or drop --address") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_cluster(ray: Any, address: str) -> None:
    """Refuse, in one line and within seconds, an ``address`` (``HOST:PORT``) where nothing listens
    (:class:`ConnectionError`) or whose cluster refuses this machine's token (:class:`PermissionError`).
    Ray's own forms (``auto``, ``ray://...``) are left to ``ray.init``."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise ConnectionError(
            f"cannot reach the Ray cluster at {address} ({e.strerror or e}); start one there with `ray start --head --port={port}`, or drop --address"
        ) from None
    try:
        ray._raylet.GcsClient(address=address)  # one call to the head's control store (GCS), which checks the token; the extra pins Ray 2.60.0
    except ray.exceptions.AuthenticationError:
        mode = os.environ.get("RAY_AUTH_MODE", "unset")
        raise PermissionError(
            f"the Ray cluster at {address} refused this machine's authentication token (RAY_AUTH_MODE is {mode} here); "
            "set RAY_AUTH_MODE=token and the cluster's token (`ray get-auth-token` on the head) in RAY_AUTH_TOKEN or ~/.ray/auth_token"
        ) from None
    except ray.exceptions.RpcError as e:
        raise ConnectionError(
            f"{address} answers but no Ray cluster does ({e}); give the head's address and port (6379 unless `ray start --port` said otherwise)"
        ) from None


def _call(fn: Callable[..., Any], item: tuple) -> Any:
    torch.set_num_threads(1)  # one task per CPU: no oversubscription (the local pool's workers do the same)
    return fn(*item)


def run_tasks(
    fn: Callable[..., Any],
    items: list[tuple],
    progress: Callable[[int, int], None] | None = None,
    on_crash: Callable[[tuple, BaseException], Any] | None = None,
) -> list[Any]:
    """``[fn(*item) for item in items]``, one Ray task per item, in an open :func:`ray_session`.

    ``fn`` and the items must pickle (a module-level function and plain data). ``progress(done,
    total)`` is called as results arrive. A task whose worker process died is run once more; if it
    dies again, its result is ``on_crash(item, error)`` (None: the error is raised). An exception
    that ``fn`` raises is raised here, as ``fn``'s own type.
    """
    ray = import_ray()
    remote = ray.remote(num_cpus=1, max_retries=1)(_call)
    fn_ref = ray.put(fn)
    refs = [remote.remote(fn_ref, item) for item in items]
    index = {ref: i for i, ref in enumerate(refs)}
    results: dict[int, Any] = {}
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            try:
                results[i] = ray.get(ready[0])
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.RayActorError) as e:
                if on_crash is None:
                    raise
                results[i] = on_crash(items[i], e)
            except ray.exceptions.RayTaskError as e:  # fn raised: raise its own error, not Ray's wrapper
                raise (e.cause if isinstance(e.cause, BaseException) else e) from None
            if progress:
                progress(len(results), len(items))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return [results[i] for i in range(len(items))]

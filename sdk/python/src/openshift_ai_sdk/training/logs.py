"""Reading and following the logs of an MPIJob's pods.

This mirrors ``kubectl odh mpijob logs``: one pod's log as it is now, or,
when following, every selected pod's log as it grows, waiting for pods to
start and picking up pods that appear later (a relaunched launcher, late
workers), until the job has finished and every log has ended. With more than
one pod selected, each line starts with ``[pod-name] ``.

A followed log ends when its container exits. Some kubelets never end the
stream (kwok's; one whose node is lost), and the workers of a job with
``cleanPodPolicy: None`` keep running after it finished, so a followed log is
also ended once it has been quiet for a grace period and its pod has ended,
is gone, or the job has finished.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Protocol, Set, Tuple

from .errors import LogsUnavailableError, TrainingError


class LogStream(Protocol):
    """An open log: iterate its chunks of bytes, close it to stop."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class LogSource(Protocol):
    """Where pods and their logs come from (the cluster, or a fake in tests)."""

    def pods(self) -> List[Dict[str, Any]]:
        """The pods whose logs are wanted, in display order."""
        ...

    def open(self, pod: Mapping[str, Any], follow: bool) -> LogStream:
        """Open one pod's log."""
        ...

    def finished(self) -> bool:
        """Whether no more pods will start (the job is over or gone)."""
        ...


def started(pod: Mapping[str, Any]) -> bool:
    """Whether a pod's containers have started, so that it has a log."""
    return str((pod.get("status") or {}).get("phase") or "") in ("Running", "Succeeded", "Failed")


def ended(pod: Mapping[str, Any]) -> bool:
    """Whether a pod has ended (Succeeded or Failed): its log is complete."""
    return str((pod.get("status") or {}).get("phase") or "") in ("Succeeded", "Failed")


def pod_name(pod: Mapping[str, Any]) -> str:
    """The pod's name."""
    return str((pod.get("metadata") or {}).get("name") or "")


def _key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


def lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Split a stream of byte chunks into text lines (without the newline)."""
    buf = b""
    for chunk in chunks:
        if not chunk:
            continue
        # Split on bytes, then decode whole lines: a character split across
        # chunks stays whole.
        parts = (buf + chunk).split(b"\n")
        buf = parts.pop()
        for part in parts:
            yield part.decode("utf-8", "replace").rstrip("\r")
    if buf:
        yield buf.decode("utf-8", "replace").rstrip("\r")


def read_logs(src: LogSource, *, prefix: bool) -> str:
    """Read the logs of the source's pods as they are now.

    Raises:
        LogsUnavailableError: no pods, a pod not started yet, or a log that
            cannot be read; ``partial`` holds what was read from the others.
    """
    pods = src.pods()
    if not pods:
        raise LogsUnavailableError("no pods found for the job (a finished job's pods may have been cleaned up, or it is still queued)")
    out: List[str] = []
    errors: List[str] = []
    for p in pods:
        name = pod_name(p)
        if not started(p):
            phase = (p.get("status") or {}).get("phase") or "Pending"
            errors.append(f"pod {name} has not started yet (phase {phase}); use follow=True to wait for it")
            continue
        try:
            stream = src.open(p, False)
            try:
                for line in lines(stream):
                    out.append(f"[{name}] {line}" if prefix else line)
            finally:
                stream.close()
        except TrainingError as err:
            errors.append(f"logs of pod {name}: {err}")
    text = "".join(line + "\n" for line in out)
    if errors:
        raise LogsUnavailableError("; ".join(errors), partial=text)
    return text


def follow_logs(
    src: LogSource, *, prefix: bool, poll_interval: float = 1.0, end_grace: float = 5.0
) -> Iterator[str]:
    """Yield the lines of the source's pods as they are written, until the job
    has finished and every log ended (or the caller stops iterating).

    A pod that has already ended is read once (its log is complete). A followed
    log that has been quiet for ``end_grace`` seconds is ended when its pod has
    ended or is gone, or when the job has finished: kubelets that never end a
    stream, and workers that outlive their job, cannot keep it open for ever.

    Raises:
        LogsUnavailableError: after the last line, if some log could not be
            read, or if the job finished without any pod to read (its pods
            were cleaned up).
    """
    q: "queue.Queue[Tuple[str, str]]" = queue.Queue()
    stop = threading.Event()
    open_streams: Dict[str, LogStream] = {}
    lock = threading.Lock()
    seen: Set[str] = set()
    # Per followed log: when it last said something (or opened), and the
    # logs this function ended itself (their read errors are not errors).
    last_data: Dict[str, float] = {}
    closed_here: Set[str] = set()
    errors: List[str] = []
    active = 0

    def pump(pod: Dict[str, Any], key: str, follow: bool) -> None:
        name = pod_name(pod)
        try:
            stream = src.open(pod, follow)
            with lock:
                open_streams[key] = stream
                if follow:
                    last_data[key] = time.monotonic()
            if stop.is_set():
                return
            for line in lines(stream):
                if stop.is_set():
                    break
                if follow:
                    with lock:
                        last_data[key] = time.monotonic()
                q.put(("line", f"[{name}] {line}" if prefix else line))
        except Exception as err:  # noqa: BLE001 - reported after the last line
            with lock:
                expected = key in closed_here
            if not stop.is_set() and not expected:
                q.put(("error", f"logs of pod {name}: {err}"))
        finally:
            with lock:
                s = open_streams.pop(key, None)
                last_data.pop(key, None)
            if s is not None:
                try:
                    s.close()
                except Exception:  # noqa: BLE001 - closing a broken stream
                    pass
            q.put(("done", key))

    def start_new(pods: List[Dict[str, Any]]) -> int:
        n = 0
        for p in pods:
            k = _key(p)
            if k in seen or not started(p):
                continue
            seen.add(k)
            n += 1
            # An ended pod's log is complete: read it, do not follow it.
            threading.Thread(target=pump, args=(p, k, not ended(p)), name=f"logs-{pod_name(p)}", daemon=True).start()
        return n

    def end_quiet(pods: List[Dict[str, Any]]) -> None:
        """End the followed logs that are quiet and whose pod ended, is gone,
        or whose job finished."""
        now = time.monotonic()
        with lock:
            quiet = [k for k, t in last_data.items() if now - t >= end_grace and k not in closed_here]
        if not quiet:
            return
        live = {_key(p) for p in pods if not ended(p)}
        over = [k for k in quiet if k not in live]
        if len(over) < len(quiet) and src.finished():
            over = quiet
        for k in over:
            with lock:
                closed_here.add(k)
                s = open_streams.get(k)
            if s is not None:
                try:
                    s.close()
                except Exception:  # noqa: BLE001 - closing a stuck stream
                    pass

    try:
        next_poll = 0.0
        while True:
            now = time.monotonic()
            if now >= next_poll:
                pods = src.pods()
                active += start_new(pods)
                if active == 0 and src.finished():
                    # Pods that started since the last listing still get read.
                    more = start_new(src.pods())
                    if more == 0:
                        break
                    active += more
                elif active > 0:
                    end_quiet(pods)
                next_poll = now + poll_interval
            try:
                kind, value = q.get(timeout=max(0.0, next_poll - time.monotonic()))
            except queue.Empty:
                continue
            if kind == "line":
                yield value
            elif kind == "error":
                errors.append(value)
            else:
                active -= 1
                if active == 0:
                    next_poll = 0.0
        if not seen:
            errors.append("no pods found for the job (a finished job's pods may have been cleaned up)")
        if errors:
            raise LogsUnavailableError("; ".join(errors))
    finally:
        stop.set()
        with lock:
            streams = list(open_streams.values())
        for s in streams:
            try:
                s.close()
            except Exception:  # noqa: BLE001 - closing on the way out
                pass


class ResponseStream:
    """A :class:`LogStream` over an open urllib3 response.

    ``close`` may be called from another thread than the one reading: it shuts
    the socket down first, which wakes a blocked read, and closes the
    connection rather than return it to the pool with a log still streaming
    on it.
    """

    def __init__(self, response: Any) -> None:
        self._r = response

    def __iter__(self) -> Iterator[bytes]:
        # stream() yields each chunk as the server sends it (chunked encoding),
        # so followed lines arrive as they are written.
        for chunk in self._r.stream(2**16, decode_content=True):
            yield bytes(chunk)

    def _shutdown(self) -> None:
        # A response read to its end has given its connection back to the
        # pool (connection is None): that one must not be touched.
        if getattr(self._r, "connection", None) is None:
            return
        shutdown = getattr(self._r, "shutdown", None)  # urllib3 >= 2.3
        if callable(shutdown):
            try:
                shutdown()
                return
            except Exception:  # noqa: BLE001 - fall back to the socket
                pass
        sock = getattr(getattr(self._r, "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._shutdown()
        try:
            self._r.close()
        finally:
            self._r.release_conn()

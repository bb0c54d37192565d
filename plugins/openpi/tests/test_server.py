"""``bench serve``'s server on the wire: openpi's frames, refusals, API keys, sessions, batching.

Clients here are raw WebSocket connections configured as openpi-client 0.1.2 configures its
own (no compression, no size limit), sending frames that openpi-client itself produced
(tests/fixtures), so what is checked is what an openpi client sees.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import websockets
import websockets.sync.client
from openpi_kit import make_observation, make_task, thread_server, toy
from openpi_toy import ToyPolicy
from vla_bench_openpi import codec, extension

from harness.contract import EpisodeSpec

FIXTURES = Path(__file__).parent / "fixtures"
LIBERO_FRAME = (FIXTURES / "libero_observation.msgpack").read_bytes()
DROID_FRAME = (FIXTURES / "droid_observation.msgpack").read_bytes()


def connect(url: str, **kwargs: Any) -> websockets.sync.client.ClientConnection:
    """A connection as openpi-client opens it."""
    return websockets.sync.client.connect(url, compression=None, max_size=None, **kwargs)


def reference(task: Any, observations: list[dict[str, Any]], seed: int = 0, **opts: str) -> list:
    """What the toy policy answers in process for one session (episode 0, or ``seed``)."""
    policy = toy(**opts)
    policy.reset(task, EpisodeSpec(0, seed), None)
    return [policy.act(o).actions for o in observations]


def test_plain_openpi_client_gets_openpi_frames() -> None:
    task = make_task()
    with thread_server(toy(), task=task) as (_, url), connect(url) as ws:
        metadata = codec.unpack(ws.recv())
        assert isinstance(metadata, dict)
        replies = []
        for _ in range(2):
            ws.send(LIBERO_FRAME)  # bytes openpi-client 0.1.2 produced
            replies.append(codec.unpack(ws.recv()))
    first, second = replies
    assert set(first) == {"actions", "policy_timing", "server_timing"}  # no extension keys
    assert set(first["server_timing"]) == {"infer_ms"}
    assert set(second["server_timing"]) == {"infer_ms", "prev_total_ms"}
    assert first["policy_timing"]["infer_ms"] == pytest.approx(0.1)  # the toy's model time
    # The LIBERO keys reached the toy as the task's cameras and state, mapped by hand here:
    libero = codec.unpack(LIBERO_FRAME)
    by_hand = {
        "images": {
            "front": libero["observation/image"],
            "wrist": libero["observation/wrist_image"],
        },
        "state": libero["observation/state"].astype(np.float32),
        "instruction": libero["prompt"],
    }
    expected = reference(task, [by_hand, by_hand])
    np.testing.assert_array_equal(first["actions"], expected[0])
    np.testing.assert_array_equal(second["actions"], expected[1])


def test_droid_keys_are_served_too() -> None:
    task = make_task()
    with thread_server(toy(), task=task) as (_, url), connect(url) as ws:
        ws.recv()
        ws.send(DROID_FRAME)
        reply = codec.unpack(ws.recv())
    droid = codec.unpack(DROID_FRAME)
    state = np.concatenate(
        [droid["observation/joint_position"], droid["observation/gripper_position"]]
    )
    by_hand = {
        "images": {
            "front": droid["observation/exterior_image_1_left"],
            "wrist": droid["observation/wrist_image_left"],
        },
        "state": state.astype(np.float32),
        "instruction": droid["prompt"],
    }
    np.testing.assert_array_equal(reply["actions"], reference(task, [by_hand])[0])


def test_metadata_lists_keys_action_space_chunk_and_model() -> None:
    task = make_task()
    with thread_server(toy(), task=task, max_batch=4) as (_, url), connect(url) as ws:
        meta = codec.unpack(ws.recv())[extension.ANNOUNCE]
        ws.send(LIBERO_FRAME)
        ws.recv()
    with thread_server(toy(), task=task) as (_, url), connect(url) as ws:
        ws.recv()
        ws.send(LIBERO_FRAME)
        ws.recv()
        with connect(url) as again:
            later = codec.unpack(again.recv())[extension.ANNOUNCE]
    assert meta["policy"]["name"] == "toy" and meta["policy"]["n_action_steps"] == 2
    assert meta["action_space"]["name"] == "ee_delta_7d"
    assert set(meta["observation_keys"]) == {"vla_bench", "libero", "droid"}
    assert "observation/wrist_image" in meta["observation_keys"]["libero"]
    assert "observation/joint_position" in meta["observation_keys"]["droid"]
    assert set(meta["extensions"]) == {extension.RESET, extension.CHUNK}
    assert meta["batching"]["max_batch"] == 4
    assert meta["chunk_length"] is None and later["chunk_length"] == 3  # learned from an answer


def test_healthz_answers_200() -> None:
    with thread_server(toy(), task=make_task()) as (_, url):
        health = url.replace("ws://", "http://") + "/healthz"
        with urllib.request.urlopen(health, timeout=5) as response:
            assert response.status == 200 and response.read() == b"OK\n"


def _array(data: bytes, dtype: str, shape: list[int]) -> dict[bytes, Any]:
    return {b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": shape}


MALFORMED = {
    "not msgpack": (b"\xc1\xc1\xc1", "not a msgpack message"),
    "deeply nested": (msgpack.packb({"images": [[[[[[[[[[[[1]]]]]]]]]]]]}), "nests deeper than 8"),
    "object dtype": (msgpack.packb({"state": _array(b"\0" * 8, "|O", [1])}), "is refused"),
    "shape mismatch": (msgpack.packb({"state": _array(b"\0" * 12, "<f4", [8])}), "needs 32 bytes"),
    "unknown keys": (msgpack.packb({"observation/foo": 1}), "none of the keys"),
    "not a map": (msgpack.packb([1, 2]), "must be a msgpack map"),
    "text frame": ("hello", "text frames are not requests"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_frames_get_an_error_frame_and_the_server_keeps_serving(name: str) -> None:
    frame, problem = MALFORMED[name]
    with thread_server(toy(), task=make_task(), max_depth=8) as (_, url), connect(url) as other:
        other.recv()
        with connect(url) as ws:
            ws.recv()
            ws.send(frame)
            error = ws.recv()
            assert isinstance(error, str) and error.startswith("error: ") and problem in error
            with pytest.raises(websockets.ConnectionClosed) as closed:
                ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        other.send(LIBERO_FRAME)  # a client connected all along is still served
        assert "actions" in codec.unpack(other.recv())


def test_frames_over_the_cap_are_refused_before_being_read() -> None:
    server = thread_server(toy(), task=make_task(), max_frame_bytes=4096)
    with server as (_, url), connect(url) as other:
        other.recv()
        with connect(url) as ws:
            ws.recv()
            ws.send(LIBERO_FRAME)  # 6.5 kB > 4 kB
            with pytest.raises(websockets.ConnectionClosed) as closed:
                ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        other.send(msgpack.packb({"state": [0.0] * 8, "images": {}}))
        assert "actions" in codec.unpack(other.recv())


def test_policy_errors_are_one_line_for_clients_and_tracebacks_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="vla_bench_openpi.server"),
        thread_server(toy(fail_after="1"), task=make_task()) as (_, url),
    ):
        with connect(url) as ws:
            ws.recv()
            ws.send(LIBERO_FRAME)
            assert "actions" in codec.unpack(ws.recv())
            ws.send(LIBERO_FRAME)
            error = ws.recv()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                ws.recv()
        with connect(url) as fresh:  # a new connection is a new session: served again
            fresh.recv()
            fresh.send(LIBERO_FRAME)
            assert "actions" in codec.unpack(fresh.recv())
    assert error == "RuntimeError: toy policy told to fail after 1 acts"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "second line" in str(logged[0].exc_info[1])


def test_a_failing_reset_at_connect_is_reported_like_a_policy_error() -> None:
    server = thread_server(toy(fail_reset="1"), task=make_task())
    with server as (_, url), connect(url) as ws:
        assert extension.ANNOUNCE in codec.unpack(ws.recv())
        assert ws.recv() == "ValueError: toy policy told to fail at reset"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


def test_debug_sends_the_traceback() -> None:
    server = thread_server(toy(fail_after="0"), task=make_task(), debug=True)
    with server as (_, url), connect(url) as ws:
        ws.recv()
        ws.send(LIBERO_FRAME)
        error = ws.recv()
    assert error.startswith("Traceback (most recent call last)") and "second line" in error


def test_api_key_is_required_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from vla_bench_openpi.client import OpenpiPolicy

    from harness.contract import PolicyConfig, PolicyConfigError

    key = "k3y-that-must-not-leak"
    with thread_server(toy(), task=make_task(), api_key=key) as (_, url):
        for headers in (None, {"Authorization": "Api-Key wrong"}, {"Authorization": key}):
            with pytest.raises(websockets.InvalidStatus) as refused:
                connect(url, additional_headers=headers)
            assert refused.value.response.status_code == 401
        with connect(url, additional_headers={"Authorization": f"Api-Key {key}"}) as ws:
            assert extension.ANNOUNCE in codec.unpack(ws.recv())
        health = url.replace("ws://", "http://") + "/healthz"
        with urllib.request.urlopen(health, timeout=5) as r:
            assert r.status == 200  # health checks need no key
        monkeypatch.setenv("OPENPI_TEST_KEY", "wrong")
        options = {"url": url, "api_key_env": "OPENPI_TEST_KEY"}
        with pytest.raises(PolicyConfigError, match="HTTP 401") as error:
            OpenpiPolicy(PolicyConfig("openpi", options=options))
        assert "wrong" not in str(error.value)
        monkeypatch.setenv("OPENPI_TEST_KEY", key)
        client = OpenpiPolicy(PolicyConfig("openpi", options=options))
        client.reset(make_task(), EpisodeSpec(0, 0), None)
        assert client.act(make_observation(0)).actions.shape == (3, 7)
        assert key not in repr(client.describe()) and key not in repr(client.options)
        client.close()


def test_concurrent_clients_get_what_they_would_get_alone() -> None:
    from vla_bench_openpi.client import OpenpiPolicy

    from harness.contract import PolicyConfig

    task = make_task()
    streams = {seed: [make_observation(seed * 100 + i) for i in range(12)] for seed in (1, 2, 3)}
    alone = {seed: reference(task, obs, seed=seed) for seed, obs in streams.items()}
    got: dict[int, list[Any]] = {}
    batches: list[int] = []
    with thread_server(toy(), task=task, max_batch=3, max_wait_s=0.05) as (_, url):
        clients = {s: OpenpiPolicy(PolicyConfig("openpi", options={"url": url})) for s in streams}
        start = threading.Barrier(len(streams))

        def episode(seed: int) -> None:
            client = clients[seed]
            client.reset(task, EpisodeSpec(seed, seed), None)
            start.wait()
            chunks = [client.act(o) for o in streams[seed]]
            got[seed] = [c.actions for c in chunks]
            batches.extend(c.info["batch"] for c in chunks)

        threads = [threading.Thread(target=episode, args=(s,)) for s in streams]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for client in clients.values():
            client.close()
    for seed in streams:
        np.testing.assert_array_equal(np.array(got[seed]), np.array(alone[seed]))
    assert max(batches) > 1  # answered together, yet each as if alone


def test_a_policy_without_fork_gives_each_client_a_copy() -> None:
    from harness.baselines import RandomPolicy
    from harness.contract import PolicyConfig

    task = make_task()
    alone = {}
    for seed in (7, 8):
        policy = RandomPolicy(PolicyConfig("random", seed=3))
        policy.reset(task, EpisodeSpec(0, seed), None)
        alone[seed] = [policy.act({}).actions for _ in range(5)]
    server = thread_server(RandomPolicy(PolicyConfig("random", seed=3)), "random")
    with server as (_, url), connect(url) as a, connect(url) as b:
        got: dict[int, list[Any]] = {7: [], 8: []}
        for ws, seed in ((a, 7), (b, 8)):
            ws.recv()
            ws.send(codec.pack(extension.reset_request(task, EpisodeSpec(0, seed))))
            ws.recv()
        for _ in range(5):  # interleaved: a shared policy would mix the two random streams
            for ws, seed in ((a, 7), (b, 8)):
                ws.send(codec.pack({"images": {}, "state": [0.0] * 8}))
                got[seed].append(codec.unpack(ws.recv())["actions"])
    for seed in (7, 8):
        np.testing.assert_array_equal(np.array(got[seed]), np.array(alone[seed]))


def test_reset_extension_is_confirmed_and_adds_chunk_details() -> None:
    task = make_task()
    with thread_server(toy()) as (_, url), connect(url) as ws:
        ws.recv()
        ws.send(codec.pack({"images": {}, "state": [0.0] * 8}))
        assert "no task" in ws.recv()  # no --task and no reset: refused, not guessed
    with thread_server(toy()) as (_, url), connect(url) as ws:
        ws.recv()
        ws.send(codec.pack(extension.reset_request(task, EpisodeSpec(4, 77))))
        assert codec.unpack(ws.recv()) == {extension.RESET: {"task": "valve", "episode": 4}}
        observation = make_observation(5)
        ws.send(codec.pack(observation))
        reply = codec.unpack(ws.recv())
    details = reply[extension.CHUNK]
    assert details["model_time_s"] == pytest.approx(1e-4) and details["info"] == {"batch": 1}
    np.testing.assert_array_equal(reply["actions"], reference(task, [observation], seed=77)[0])


class _Watched(ToyPolicy):
    """The toy, slowed down, counting forks and noting any two calls that overlap."""

    def __init__(self, config: Any, log: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.log = log if log is not None else {"forks": 0, "busy": threading.Lock(), "overlaps": 0}

    def _enter(self) -> None:
        if not self.log["busy"].acquire(blocking=False):
            self.log["overlaps"] += 1
            self.log["busy"].acquire()
        time.sleep(0.002)  # long enough for a call on another thread to run into this one
        self.log["busy"].release()

    def fork(self) -> _Watched:
        self._enter()
        self.log["forks"] += 1
        return _Watched(self.config, self.log)

    def reset(self, task: Any, episode: EpisodeSpec, env: Any) -> None:
        self._enter()
        super().reset(task, episode, env)

    def act(self, observation: Any) -> Any:
        self._enter()
        return super().act(observation)


def test_a_lone_client_waits_for_no_batch_once_the_others_have_gone() -> None:
    from harness.contract import PolicyConfig

    task = make_task()
    policy = _Watched(PolicyConfig("toy"))
    with thread_server(policy, task=task, max_batch=4, max_wait_s=0.5) as (_, url):
        with connect(url) as a:
            a.recv()
            with connect(url) as b:
                b.recv()
                b.send(LIBERO_FRAME)  # two clients: a lone request waits for its peer
                b.recv()
            a.send(LIBERO_FRAME)  # may still have waited: the server sees b go a moment later
            a.recv()
            started = time.monotonic()
            for _ in range(3):  # b has gone: no wait for it
                a.send(LIBERO_FRAME)
                reply = codec.unpack(a.recv())
            assert time.monotonic() - started < 0.5
            assert reply["actions"].shape == (3, 7)
        with connect(url) as c:  # a returning client takes a session over: no new fork
            c.recv()
            c.send(LIBERO_FRAME)
            c.recv()
    assert policy.log["forks"] == 2


def test_calls_on_the_policy_never_overlap_whichever_thread_makes_them() -> None:
    from harness.contract import PolicyConfig

    task = make_task()
    policy = _Watched(PolicyConfig("toy"))
    answers: list[Any] = []
    # max_batch 1: every act may run on the server's thread while the host thread forks and
    # resets for connecting clients.
    with thread_server(policy, task=task, max_batch=1) as (_, url):

        def client(i: int) -> None:
            for _ in range(10):  # each connection resets on the host thread
                with connect(url) as ws:
                    ws.recv()
                    for _ in range(2):
                        ws.send(LIBERO_FRAME)
                        answers.append(codec.unpack(ws.recv())["actions"])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(answers) == 60
    assert policy.log["overlaps"] == 0


class _Timed(ToyPolicy):
    """The toy taking ``delay`` seconds per act and noting the thread each act ran on."""

    def __init__(self, config: Any, delay: float = 0.0, threads: list[str] | None = None) -> None:
        super().__init__(config)
        self.delay = delay
        self.threads = threads if threads is not None else []

    def fork(self) -> _Timed:
        return _Timed(self.config, self.delay, self.threads)

    def act(self, observation: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return super().act(observation)


@pytest.mark.parametrize("delay", [0.0, 0.03])
def test_quick_acts_of_a_lone_client_skip_the_host_thread_and_slow_ones_keep_to_it(
    delay: float,
) -> None:
    from harness.contract import PolicyConfig

    policy = _Timed(PolicyConfig("toy"), delay)
    with thread_server(policy, task=make_task(), max_batch=4) as (_, url), connect(url) as ws:
        ws.recv()
        for _ in range(6):
            ws.send(LIBERO_FRAME)
            assert codec.unpack(ws.recv())["actions"].shape == (3, 7)
    on_host = [name == "vla-bench-host" for name in policy.threads]
    if delay:  # the server's thread stays free for pings and other connections meanwhile
        assert all(on_host)
    else:  # the first act's time is not known yet; later ones need no hand-over
        assert on_host[0] and not all(on_host[1:])

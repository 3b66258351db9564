"""Three replicas behind HAProxy on 127.0.0.1, under steady load: a rolling replacement
to a new model version drops nothing, and a replica killed with -9 costs (almost) nothing.

HAProxy (Debian's package) checks /health on each replica every 200 ms. The rolling
replacement drains one replica at a time through HAProxy's runtime API, stops it with
SIGTERM, starts it with the new model and puts it back. Bounded: about 30 s of load from
4 clients, at most 20,000 requests. Figures for longer runs: `make bench-rolling`.
"""

from __future__ import annotations

import pytest

from testkit.balancer import Balancer, Load, haproxy_or_none
from testkit.shadow import train_other_model
from testkit.tools import required

pytestmark = pytest.mark.slow
KILL_FAILED_LIMIT = 0.001


@pytest.fixture(scope="module")
def haproxy() -> str:
    return required("HAProxy", haproxy_or_none())


@pytest.fixture(scope="module")
def new_model(tmp_path_factory, sampled, params, loaded_model):
    """A second model version: the same sample, the task's other quick candidate."""
    from bundle.store import load_bundle

    served = loaded_model.metadata.candidate
    model_dir = train_other_model(
        tmp_path_factory.mktemp("next-model"), sampled, params, served
    )
    version = load_bundle(model_dir).version
    assert version != loaded_model.version
    return model_dir, version


@pytest.fixture
def balancer(haproxy, tmp_path, model_dir):
    rig = Balancer(haproxy, tmp_path, count=3)
    try:
        rig.start(model_dir)
        yield rig
    finally:
        rig.close()


def test_a_rolling_replacement_under_load_fails_no_request_and_mixes_only_two_versions(
    balancer, new_model, loaded_model, example_record
):
    model_dir, new_version = new_model
    steps = []
    with Load(balancer.url, example_record, clients=4) as load:
        for replica in balancer.replicas:
            steps.append(balancer.replace(replica, model_dir))
        after = len(load.results)
        while len(load.results) < after + 200:
            pass
    total, failed = len(load.results), load.failed()
    print(f"\nrolling replacement of 3 replicas: {total} requests, {len(failed)} failed;"
          " per replica drain/boot/back in rotation (s): "
          + "; ".join(f"{s['drain_s']:.2f}/{s['boot_s']:.1f}/{s['back_in_rotation_s']:.2f}"
                      for s in steps))  # fmt: skip
    assert total > 300
    assert failed == []
    assert load.versions() == {loaded_model.version, new_version}
    last = [r[2] for r in load.results[-100:]]
    assert set(last) == {new_version}


def test_a_replica_killed_with_sigkill_is_routed_around(balancer, example_record):
    with Load(balancer.url, example_record, clients=4) as load:
        while len(load.results) < 300:
            pass
        out_of_rotation = balancer.kill(balancer.replicas[0])
        after = len(load.results)
        while len(load.results) < after + 1000:
            pass
    total, failed = len(load.results), load.failed()
    retried = balancer.stats()["r1"]
    print(f"\nkill -9 of 1 of 3 replicas: {total} requests, {len(failed)} failed "
          f"({len(failed) / total:.3%}); HAProxy marked it DOWN "
          f"{out_of_rotation:.2f} s after the kill; retries "
          f"{retried['wretr']}, redispatches {retried['wredis']}")  # fmt: skip
    assert len(failed) / total <= KILL_FAILED_LIMIT, failed[:5]
    assert out_of_rotation < 2.0

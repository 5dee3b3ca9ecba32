"""The rate window shared by every instance, kept in a blob on a real Azurite.

The guarantee is about the start slots the budget hands out: across every process that shares
the blob, no rolling window holds more than the limit. These tests check it on the slots
themselves (a wall-clock run adds scheduling jitter that the margin absorbs; the benchmark in
bench/rate_ceiling.py measures that against the emulator)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

from azure.storage.blob import ContainerClient

from shared.hubspot.rate_budget import PacedBudget
from shared.hubspot.shared_budget import BlobWindowStore, blob_name_for
from tests.support import ROOT


def most_in_any_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    most, first = 0, 0
    for last, t in enumerate(starts):
        while starts[first] <= t - window:
            first += 1
        most = max(most, last - first + 1)
    return most


def store_for(conn: str, container: str, token: str = "app-token", **options) -> BlobWindowStore:  # noqa: S107
    return BlobWindowStore.connect({"AzureWebJobsStorage": conn}, container, token, **options)


class Recorder:
    """Wraps a store and records every slot it grants."""

    def __init__(self, store) -> None:
        self.store, self.clock, self.slots = store, store.clock, []

    def share(self) -> float:
        return self.store.share()

    def update(self, change):
        result = self.store.update(change)
        if isinstance(result, tuple):  # acquire's change returns the slot it was granted (and the margin)
            self.slots.append(result[0])
        return result


def test_two_instances_share_one_window_and_never_exceed_it_together(azurite) -> None:
    a = Recorder(store_for(azurite, "budget-two"))
    b = Recorder(store_for(azurite, "budget-two"))
    budgets = [PacedBudget(50, r, member=name, sleep=lambda s: None) for r, name in ((a, "a"), (b, "b"))]
    for _ in range(60):  # interleaved: each instance's cached ETag is stale every other time
        for rb in budgets:
            rb.acquire()
    slots = a.slots + b.slots
    assert len(slots) == 120
    assert most_in_any_window(slots, 10.0) == 50  # full use of the window, and never more
    assert a.store.conflicts + b.store.conflicts > 0  # they really raced for the blob
    stored = json.loads(ContainerClient.from_connection_string(azurite, "budget-two")
                        .get_blob_client(blob_name_for("app-token")).download_blob().readall())
    assert set(stored["members"]) == {"a", "b"}
    assert "app-token" not in json.dumps(stored)


WORKER = textwrap.dedent("""
    import json, os, sys
    from shared.hubspot.rate_budget import PacedBudget
    from shared.hubspot.shared_budget import BlobWindowStore
    conn, n = sys.argv[1], int(sys.argv[2])
    store = BlobWindowStore.connect({"AzureWebJobsStorage": conn}, "budget-procs", "app-token")
    slots = []
    update = store.update
    def recording(change):
        result = update(change)
        if isinstance(result, tuple):
            slots.append(result[0])
        return result
    store.update = recording
    rb = PacedBudget(30, store, member=str(os.getpid()), sleep=lambda s: None)
    for _ in range(n):
        rb.acquire()
    print(json.dumps({"slots": slots, "conflicts": store.conflicts}))
""")


def test_processes_racing_for_the_blob_never_exceed_the_window(azurite) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, azurite, "40"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    slots = [s for r in reports for s in r["slots"]]
    assert len(slots) == 160  # (slots may share a time: a window that frees several at once)
    assert most_in_any_window(slots, 10.0) == 30
    assert sum(r["conflicts"] for r in reports) > 0  # they raced


def test_an_unreachable_blob_falls_back_to_a_conservative_share_and_says_so_once(caplog) -> None:
    now = [1000.0]
    dead = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + "a" * 88 + \
        ";BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    store = BlobWindowStore.connect({"AzureWebJobsStorage": dead}, "budget-dead", "t", clock=lambda: now[0])
    store._container = ContainerClient.from_connection_string(dead, "budget-dead", retry_total=0,
                                                              connection_timeout=1)
    store._blob = store._container.get_blob_client(blob_name_for("t"))
    rb = PacedBudget(100, store, sleep=lambda s: None)
    with caplog.at_level(logging.WARNING, logger="hubsync.rate"):
        for _ in range(5):
            rb.acquire()
    assert rb.limit() == 25  # a quarter of the limit: at least FALLBACK_INSTANCES share it
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1
    assert "1/4" in warnings[0].getMessage()


def test_the_blob_is_tried_again_and_the_whole_limit_comes_back(azurite, caplog) -> None:
    now = [1000.0]
    store = store_for(azurite, "budget-back", clock=lambda: now[0])
    good_blob = store._blob
    store._blob = ContainerClient.from_connection_string(
        azurite.replace("127.0.0.1:", "127.0.0.1:1"), "budget-back", retry_total=0, connection_timeout=1,
    ).get_blob_client(blob_name_for("app-token"))  # a wrong port first
    rb = PacedBudget(100, store, sleep=lambda s: None)
    rb.acquire()
    assert rb.limit() == 25
    store._blob = good_blob
    now[0] += 10  # too soon to try again
    assert rb.limit() == 25
    now[0] += 30
    with caplog.at_level(logging.WARNING, logger="hubsync.rate"):
        rb.acquire()
    assert rb.limit() == 100
    assert any("reachable again" in r.getMessage() for r in caplog.records)

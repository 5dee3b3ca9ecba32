"""Issue 12, bad input: the state database drops the connection between HubSpot's answer and the
commit of what the batch learned. The delivery must fail as a retryable outage with nothing
half-saved (no record marked written, no counter moved), and the next delivery must converge:
every row in HubSpot once, the run's counters exact."""

from __future__ import annotations

import sqlalchemy as sa

from shared.errors import Action, judge
from shared.state.records import Records
from tests.regressions.helpers import make_runtime
from tests.support import config_dict, create_customers

ROWS = 120  # two batches of 100 and 20 (batch_size 100), rows 37, 73 and 91 rejected on purpose


def test_a_connection_dropped_before_the_commit_saves_nothing_and_the_retry_converges(
        pg_engine, pg_schema, emulator, monkeypatch) -> None:
    create_customers(pg_engine, ROWS, schema=pg_schema)
    data = config_dict(table=f"{pg_schema}.customers", state_schema=f"{pg_schema}_state")
    rt = make_runtime(pg_engine, emulator, config=data)
    plan = rt.planner().plan("timer")
    bodies = rt.queue.peek_all()
    assert len(bodies) == 2

    original = Records.save_records
    killed: list[int] = []

    def save_then_lose_the_connection(self, object_name, states, run_id, count=None):
        def count_and_kill(refused):
            counts = count(refused) if count else {}
            if any(st.hubspot_id for st in states) and not killed:
                # inside the transaction that would commit the written records: its backend dies
                with self.engine.connect() as other:
                    pid = other.execute(sa.text(
                        "select pid from pg_stat_activity where datname = current_database() and pid <> "
                        "pg_backend_pid() and state = 'idle in transaction' order by xact_start desc limit 1",
                    )).scalar()
                    if pid:
                        other.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": pid})
                        killed.append(pid)
            return counts
        return original(self, object_name, states, run_id, count=count_and_kill)

    monkeypatch.setattr(Records, "save_records", save_then_lose_the_connection)
    handler = rt.handler()
    try:
        handler.handle(bodies[0], 1, "m1")
        raise AssertionError("the delivery went through although its connection was killed before the commit")
    except Exception as err:  # noqa: BLE001 - what the queue would see
        assert judge(err).action is Action.RETRY and judge(err).transient, err
    assert killed
    monkeypatch.undo()

    run = rt.state.get_run(plan.run_id)
    assert (run["created"], run["updated"], run["adopted"]) == (0, 0, 0)  # no counter moved
    with pg_engine.connect() as conn:
        written = conn.execute(sa.text(
            f'select count(*) from "{pg_schema}_state".records where hubspot_id is not null')).scalar_one()
    assert written == 0  # no record half-saved as written

    # the queue delivers the message again, then the other one
    assert handler.handle(bodies[0], 2, "m1") == "done"
    assert handler.handle(bodies[1], 1, "m2") == "done"
    run = rt.state.get_run(plan.run_id)
    contacts = emulator.records("contacts")
    assert len(contacts) == ROWS - 3
    assert len({c["properties"]["email"] for c in contacts}) == ROWS - 3  # none twice
    # the retry finds the records its lost commit made and counts them as made by this run
    assert (run["created"], run["updated"], run["adopted"], run["rejected"], run["status"]) == \
        (ROWS - 3, 0, 0, 3, "finished")

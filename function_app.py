"""Azure Functions entry point: checks the deployment, then registers one Blueprint per trigger.

A deployment that cannot start (a missing or invalid setting, a Key Vault reference left
unresolved, a configuration file missing or invalid) still indexes ``health``, which answers 503
naming each problem and its fix; the first log line says the same. The timer ``planner`` fails
every tick with that message, so nothing is enqueued. The queue functions are not registered:
no message is dequeued, so none spends a delivery attempt; they wait in the queue until the
fixed app restarts (docs/azure.md, "When the app cannot start").
"""

import logging
import os

import azure.functions as func

from functions import health, planner, poison, runtime, worker
from shared import telemetry
from shared.errors import ConfigurationError
from shared.schedule import validate_schedule
from shared.settings import cannot_start
from shared.sync_logger import install_filter


def _schedule_resolves() -> bool:
    """The timer's binding reads %HUBSYNC_SCHEDULE%: the host can index it only when that is a schedule."""
    try:
        return bool(validate_schedule(os.environ.get("HUBSYNC_SCHEDULE", "").strip()))
    except ConfigurationError:
        return False


install_filter()
telemetry.configure()  # Application Insights (OpenTelemetry) when its connection string is set
problems = runtime.startup_problems(fresh=True)
if problems:
    logging.getLogger("hubsync.startup").error("%s", cannot_start(problems))

app = func.FunctionApp()
app.register_functions(health.bp)
if _schedule_resolves():
    app.register_functions(planner.bp)
if not problems:
    app.register_functions(worker.bp)
    app.register_functions(poison.bp)

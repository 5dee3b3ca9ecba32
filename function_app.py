"""Azure Functions entry point: checks the app settings, then registers one Blueprint per trigger."""

import os

import azure.functions as func

from shared.settings import require_app_settings
from shared.sync_logger import install_filter

require_app_settings(os.environ)  # refuse to start, naming the setting to fix
install_filter()

from functions import health, planner, poison, worker  # noqa: E402 - after the settings check

app = func.FunctionApp()
for module in (planner, worker, poison, health):
    app.register_functions(module.bp)

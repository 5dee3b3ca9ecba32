"""HTTP health endpoint (function key): 200 when the deployment can sync, else 503 naming each
problem and its fix (settings, Key Vault references, configuration, database access, queue)."""

from __future__ import annotations

import json

import azure.functions as func

from functions.runtime import get_runtime, startup_problems
from shared.readiness import report

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    body = report(get_runtime, startup_problems(), int(req.params.get("runs", "5")))
    code = 200 if body["status"] == "ok" else 503
    return func.HttpResponse(json.dumps(body, default=str), status_code=code, mimetype="application/json")

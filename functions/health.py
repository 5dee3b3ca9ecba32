"""HTTP health/status endpoint (function key): recent runs, parked batches, settings check."""

from __future__ import annotations

import json
import os

import azure.functions as func

from functions.runtime import get_runtime
from shared.redaction import scrub_secrets
from shared.settings import check_app_settings

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    problems = check_app_settings(os.environ)
    body: dict[str, object] = {"status": "ok" if not problems else "misconfigured", "problems": problems}
    if not problems:
        try:
            rt = get_runtime()
            runs = rt.state.recent_runs(int(req.params.get("runs", "5")))
            body["runs"] = [
                {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in runs
            ]
            body["parked_batches"] = len(rt.state.list_poison())
        except Exception as err:  # noqa: BLE001 - reported, not raised: this is the health endpoint
            body["status"] = "degraded"
            body["problems"] = [f"{type(err).__name__}: {scrub_secrets(str(err))[:300]}"]
    code = 200 if body["status"] == "ok" else 503
    return func.HttpResponse(json.dumps(body, default=str), status_code=code, mimetype="application/json")

"""The operations routes in the OpenAPI document (see web/ops/api.py; /metrics,
/healthz and /readyz are for probes and Prometheus, described in the README)."""

from __future__ import annotations

from ops.webhooks import EVENT_TYPES
from web.http.openapi import INSTANT, STRING, Json, Part, nullable, obj, ok, op, query_param, ref
from web.ops.api import DELIVERY_STATUSES


def openapi_part() -> Part:
    paths: Json = {
        "/api/webhooks/deliveries": {
            "get": op(
                "The webhook delivery log, newest first",
                "administrator",
                ok(
                    "the addresses and the deliveries",
                    obj(
                        {
                            "urls": {"type": "array", "items": STRING},
                            "deliveries": {"type": "array", "items": ref("Delivery")},
                        }
                    ),
                    "400",
                    "401",
                    "403",
                ),
                parameters=[
                    query_param("limit", "1-1000 (100)", {"type": "integer"}),
                    query_param("status", "only these", {"enum": list(DELIVERY_STATUSES)}),
                    query_param("event_id", "one event's deliveries (its 32 hex digits)"),
                ],
            )
        }
    }
    schemas: Json = {
        "Delivery": obj(
            {
                "id": {"type": "integer"},
                "event_id": STRING,
                "event_type": {"enum": list(EVENT_TYPES)},
                "url": STRING,
                "status": {"enum": list(DELIVERY_STATUSES)},
                "attempts": {"type": "integer"},
                "last_code": nullable({"type": "integer"}),
                "last_error": STRING,
                "created_at": INSTANT,
                "updated_at": INSTANT,
            }
        )
    }
    return Part(paths, schemas)

"""Prometheus metrics of the worker's agents."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("paystream_executor_requests_total", "Payment requests handled",
                   ["kind", "result"])
DUPLICATES = Counter("paystream_executor_duplicates_total",
                     "Requests already processed (redelivery), not executed again")
GATEWAY_CALLS = Counter("paystream_gateway_calls_total", "Gateway calls by operation and outcome",
                        ["operation", "outcome"])
GATEWAY_LATENCY = Histogram("paystream_gateway_call_seconds", "Gateway call latency",
                            ["operation"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10))
RETRIES = Counter("paystream_gateway_retries_total",
                  "Repeats of a call whose outcome was unknown (same api_request_key)",
                  ["operation"])
GIVEN_UP = Counter("paystream_executor_given_up_total",
                   "Requests given up after the life of an idempotency key", ["kind"])
# An alert: the gateway refused our credentials or configuration, not a shopper's payment.
GATEWAY_MISCONFIGURED = Counter("paystream_gateway_misconfigured_total",
                                "Requests parked because of gateway authentication or setup",
                                ["error"])
RECORD_RETRIES = Counter("paystream_record_retries_total",
                         "Records handled again after the agent's step itself failed",
                         ["agent"])
DEAD_LETTERS = Counter("paystream_dead_letters_total", "Messages parked in a dead-letter topic",
                       ["source"])
IN_FLIGHT = Gauge("paystream_executor_in_flight", "Requests being executed now")
ORDER_ANOMALIES = Counter("paystream_order_anomalies_total",
                          "Outcome events that were impossible for the order's state",
                          ["event_type"])
DRIFT_FOUND = Counter("paystream_reconcile_drift_total",
                      "Disagreements between the ledger and the gateway found by the reconciler",
                      ["kind"])
DRIFT_OPEN = Gauge("paystream_reconcile_drift_open",
                   "Disagreements the last reconcile pass found and did not repair")
COMPENSATIONS = Counter("paystream_reconcile_compensations_total",
                        "Orphan authorizations voided by the reconciler")

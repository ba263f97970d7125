"""Wire models (pydantic v2, JSON on the wire), one concept per module.

money (Money), payment_request (PaymentRequest), outcomes (the six outcome events),
orders (OrderCreated, OrderAnomaly, FulfillmentRequested), dead_letter (DeadLetter),
codec (json_bytes, the wire encoding), generate/cli (JSON Schema + AsyncAPI under generated/).
Nothing is re-exported here so importing one model does not pull in faust.
"""

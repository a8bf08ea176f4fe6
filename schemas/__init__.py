"""The contract: pydantic models for every event and for the HTTP API. No I/O here.

Compatibility rule (within one `schema_version` major):
- producers may add optional fields to a payload; consumers ignore fields they don't know;
- a field is never removed, renamed, made required, or given a narrower type;
- a new event type gets its own payload model and EVENT_TYPE;
- anything else bumps `schema_version`, and consumers reject versions they don't support
  (the event goes to the dead-letter topic with the reason).
"""

from schemas.envelope import SCHEMA_VERSION, Envelope, Payload, make_event

__all__ = ["SCHEMA_VERSION", "Envelope", "Payload", "make_event"]

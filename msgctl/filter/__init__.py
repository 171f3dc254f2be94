"""SNS subscription filter policies: the engine, AWS's constraints (lint), the messages the engine reads,
NDJSON envelope scans and the ActiveMQ selector translation."""

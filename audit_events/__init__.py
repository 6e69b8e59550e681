"""Audit events: the event contract (JSON Schema), the EventBridge publisher, the local sink and demo data."""

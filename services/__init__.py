"""Delivery Center's four services (gateway, workflow, timers, notifier) and their tools."""

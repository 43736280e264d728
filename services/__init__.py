"""Delivery Center's four services (gateway, workflow, timers, notifier) and the tools around them."""

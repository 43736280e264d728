"""Delivery Center's shared package: the pure domain, the message contracts and the settings."""

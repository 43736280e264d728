"""The workflow worker: applies commands to delivery documents through the pure engine."""

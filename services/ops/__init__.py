"""What operators use from a terminal: reports on deliveries and deadlines, and dead letters."""

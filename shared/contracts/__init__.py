"""Message contracts: queue names, the envelopes that travel on them, their JSON Schemas."""

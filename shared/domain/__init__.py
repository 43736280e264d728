"""The pure domain: roles, states, the four processes as tables, and the engine that reads them."""

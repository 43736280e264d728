"""What every service runs on, and the only part of ``services`` a service may import besides
its own package: the broker and the worker loop (``bootstrap``), publishing (``bus``), the
Mongo clients, collections and their indexes (``collections``), logs, worker metrics, the
dead-letter recorder, the day-by-day lists,
the deadline book (written by the workflow, fired by the timers) and the signed page links
(made by the notifier, checked by the gateway)."""

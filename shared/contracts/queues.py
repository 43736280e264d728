"""Queue and actor names, as the RabbitMQ console shows them.

dramatiq adds ``<queue>.DQ`` (delayed messages) and ``<queue>.XQ`` (dead letters) beside each.
"""

#: Commands to apply to deliveries, from the gateway, bus publishers and the timer worker.
COMMANDS_QUEUE = "dc.commands"
#: Events whose parties are to be emailed.
NOTIFICATIONS_QUEUE = "dc.notifications"

APPLY_COMMAND_ACTOR = "apply_command"
SEND_NOTIFICATIONS_ACTOR = "send_notifications"

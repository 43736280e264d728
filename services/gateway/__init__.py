"""The HTTP gateway: validates role commands at the door and publishes them onto RabbitMQ."""

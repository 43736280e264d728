"""Development tooling, never imported by ``services`` or ``shared`` and left out of the Docker
image: provisioning RabbitMQ and FerretDB on this machine (``provision``, ``ferretdb`` and its
patches), an SMTP sink (``mailsink``), test vhosts (``vhosts``) and the checkout's commands
of ``delivery-center`` (``cli``: up, infra, token, test)."""

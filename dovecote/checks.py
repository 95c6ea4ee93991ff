"""System checks (ids ``dovecote.E0xx`` and ``dovecote.W0xx``)."""

"""Chat transport backends; each module's class is ``ChatBackend``."""

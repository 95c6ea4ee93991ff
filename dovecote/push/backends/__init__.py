"""Push transport backends; each module's class is ``PushBackend``."""

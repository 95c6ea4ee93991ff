"""SMS transport backends; each module's class is ``SmsBackend``."""

"""Attribute-access record for validated config (``cfg.broker.port``).

Kept out of config.py so the validator (schemas, lambdas) can be unloaded
after boot while the validated values stay in use.
"""


class Section:
    def __init__(self, values):
        for key, value in values.items():
            setattr(self, key, value)

    def __repr__(self):
        # Never print secrets (Wi-Fi and broker passwords).
        shown = {k: ("***" if k == "password" else v) for k, v in self.__dict__.items()}
        return "Section(%r)" % shown

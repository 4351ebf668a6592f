"""The SMS gateways, one package each, registered in `providers.registry` when imported.

from providers import registry
spec = registry.get("smsc")        # never `import providers.smsc` from generic code
"""

from providers import ants, registry, smsc, smsmanager

__all__ = ["ants", "registry", "smsc", "smsmanager"]

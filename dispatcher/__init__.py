"""Producer side of the bulk SMS dispatcher: import, validate, batch, enqueue; the public API.

    import dispatcher
    dispatcher.enqueue_campaign(rows, campaign="spring", text="Hi {name}")
    dispatcher.send_sms("0812345678", "Your parcel is on its way", key="order-1234")

The names below are loaded from `dispatcher.api` on first use, so importing the
package stays cheap for the workers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["enqueue_campaign", "import_csv", "send_sms"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dispatcher import api

        return getattr(api, name)
    raise AttributeError(f"module 'dispatcher' has no attribute {name!r}")

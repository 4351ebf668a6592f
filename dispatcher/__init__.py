"""Producer side of the bulk SMS dispatcher: import, validate, batch, enqueue; the public API."""

"""What producers (dispatcher) and workers share: the batch contract, keys, states, ids,
errors, Lua scripts with their wrappers, limits, queues.  Imports nothing of the project."""

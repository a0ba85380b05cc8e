"""Fault-injection tests: delivery guarantees under crashes, outages, rebalances and hostile input."""

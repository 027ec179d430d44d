"""One in-memory fake per port, for unit tests of the pure use cases and for the benchmarks that measure them.

Fakes follow the rules of the real service they stand for (leases, staging labels, suppression windows), including
the ones moto does not enforce; integration tests use moto and the Pinterest emulator instead.
"""

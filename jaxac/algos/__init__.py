"""Algorithms: each module has Config, State, init, update and train."""

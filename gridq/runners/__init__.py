"""Runners compose the engine into backtests."""

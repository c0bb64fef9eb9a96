"""Fleets: many sites and scenarios as Dask tasks, each a normal run bundle."""

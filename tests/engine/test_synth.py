"""Synthetic series across the clock changes."""

import numpy as np
import pandas as pd

from gridq.engine.synth import agile_prices


def test_agile_prices_cover_the_hour_the_clocks_go_back():
    utc = pd.date_range("2025-10-25T23:00Z", periods=16, freq="15min")
    import_price, export_price = agile_prices(utc.tz_convert("Europe/London"))
    assert np.isfinite(import_price).all()
    assert np.isfinite(export_price).all()
    assert len(import_price) == len(utc)

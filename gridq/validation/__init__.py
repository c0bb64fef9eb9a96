"""Great Expectations checks of whole tables (timeseries and dispatch)."""

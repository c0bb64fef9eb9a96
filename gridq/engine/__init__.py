"""Engine: pure functions from validated inputs to dispatch, bill and metrics."""

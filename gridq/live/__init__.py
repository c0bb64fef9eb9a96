"""Live operations: device drivers that read a site's meters and write its battery's setpoint."""

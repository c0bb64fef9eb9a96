"""What every Dask worker of a fleet does once it starts, whichever cluster it belongs to."""

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from gridq.highs_banner import swallow_highs_banner


class QuietHighs(WorkerPlugin):
    """Swallow HiGHS's banner in each worker, as the CLI does in its own process."""

    name = "gridq-quiet-highs"

    def setup(self, worker: Any) -> None:
        """Run when the plugin is registered, and on each worker that joins later."""
        swallow_highs_banner()

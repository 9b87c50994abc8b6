"""Job workers: claim jobs under a lease, run their action, record how they ended."""

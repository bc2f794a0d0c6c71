"""What a run leaves behind: event tables, the resolved config and ``summary.json``."""

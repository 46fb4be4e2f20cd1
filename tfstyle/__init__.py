"""tfstyle."""

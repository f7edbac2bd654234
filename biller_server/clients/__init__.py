"""Partner clients: one module per partner, each mapping its statuses to one canonical outcome."""

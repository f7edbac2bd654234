"""What every HTTP endpoint shares: request ids and access log, errors, authentication, the inbound log."""

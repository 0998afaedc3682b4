"""Real monitoring daemons from Debian's packages, run as private processes on loopback for the slow tests."""

"""RQ jobs: assess (probe, collect, judge) and notify."""

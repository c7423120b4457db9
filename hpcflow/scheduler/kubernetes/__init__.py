"""The Kubernetes scheduler: Indexed Jobs, one LIST per tick, units staged through S3."""

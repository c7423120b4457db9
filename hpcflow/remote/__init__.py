"""Remote sites: the workstation's client and the login node's JSON mode (``remote-api``)."""

"""pytest plugin for users: fixtures that run a sandbox exchange and a client."""

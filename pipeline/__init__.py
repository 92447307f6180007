"""Sources, tracking, zones, rules, the camera runner, config and the CLI."""

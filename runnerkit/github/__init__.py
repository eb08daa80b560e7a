"""GitHub Actions runners: ARC values and patches, snippets, API."""

"""GitLab Runner integration: runner template edits, manager RBAC, isolation, snippets, API."""

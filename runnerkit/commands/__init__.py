"""Subcommands. Each module has `register(subparsers)`; heavy imports happen inside handlers."""

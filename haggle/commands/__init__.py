"""One module per `haggle` subcommand; each exposes `register(subparsers)`."""

"""opsbot: ChatOps for Matrix, with Git as the record of every change."""

__version__ = "0.4.0"

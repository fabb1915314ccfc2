"""Judging: turning a comment into a verdict, and which judge answers."""

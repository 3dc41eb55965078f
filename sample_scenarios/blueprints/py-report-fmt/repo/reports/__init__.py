"""Weekly sales reports."""

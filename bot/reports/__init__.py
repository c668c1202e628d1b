"""Evaluate: the figures behind the App Home, the reports with their charts, and exports."""

"""The run's report in three forms: the terminal, JUnit XML (for CI) and self-contained HTML."""

from .html import write_html
from .junit import write_junit
from .terminal import print_progress, print_summary

__all__ = ["print_progress", "print_summary", "write_html", "write_junit"]

"""Service metrics (网办率, 按时办结率, ...): versioned definitions, computed from case events."""

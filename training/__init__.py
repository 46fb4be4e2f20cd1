"""Training pipelines (teacher, student) on one shared distributed loop."""

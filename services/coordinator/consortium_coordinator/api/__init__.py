"""HTTP edge of the coordinator: thin routes over the jobs and runtime modules."""

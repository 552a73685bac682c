"""Reports the coordinator builds from what it recorded (privacy, personalization)."""

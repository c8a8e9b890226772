"""Offline test harness for the mlops.stack collection (Kubernetes API emulator and fixtures)."""

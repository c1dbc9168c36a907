"""Benchmarks of linkwatch against lychee on a loopback web (see README.md here)."""

"""Probes a careless or hostile user would run (issue 9), kept as tests so no later change reopens them.

RELIABILITY.md at the repository root lists each probe, what it must do, and the test that proves it. Names
added by the fixes are imported inside the tests that use them, so every module here can also be collected
against the code from before the fixes, where those tests were seen to fail.
"""

"""Fakes of every outside service, each a real local server or component that behaves like the real thing."""

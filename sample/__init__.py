"""The demo's and the tests' scaffolding: a sample opencode store and a tiny offline base model built from one."""

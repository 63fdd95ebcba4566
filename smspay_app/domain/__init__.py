"""Pure logic: no database, no network, no clock reads except through ``clock``."""

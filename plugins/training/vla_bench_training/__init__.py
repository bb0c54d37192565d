"""Demonstrations -> LeRobot dataset -> trained checkpoint -> ``bench run``."""

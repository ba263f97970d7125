"""A Braintree-compatible sandbox simulator the official `braintree` SDK can drive unchanged."""

from gateway.simulator.config import FaultConfig, SimulatorConfig

__all__ = ["FaultConfig", "SimulatorConfig"]

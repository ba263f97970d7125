"""`python -m gateway.simulator --port N`: what the runner and `paystream sim` start."""

from gateway.cli import sim_app

if __name__ == "__main__":
    sim_app(prog_name="python -m gateway.simulator")

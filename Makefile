# The two quick-start commands (README): `make bench` and `make test`.
# Both set the machine up first (scripts/setup.sh: system packages, uv, the workspace venv).

VENV := .venv/bin
MYPY_TARGETS := harness $(wildcard tasks/*/vla_bench_*) $(wildcard plugins/*/vla_bench_*) $(wildcard leaderboard/vla_bench_*) examples/minimal-plugin/vla_bench_example
export MUJOCO_GL ?= egl

.PHONY: setup bench test lint

setup:
	@scripts/setup.sh

# The main job: the default manipulation suite scored for the scripted expert and the random
# floor, then the leaderboard built from every run under runs/.
bench: setup
	$(VENV)/bench run --policy scripted --task manipulation --episodes 10 --video 2 --out runs/quickstart-scripted
	$(VENV)/bench run --policy random --task manipulation --episodes 10 --video 2 --out runs/quickstart-random
	$(VENV)/bench report runs/quickstart-scripted runs/quickstart-random --format term
	$(VENV)/bench report runs/quickstart-scripted runs/quickstart-random -o reports/quickstart.html

lint: setup
	$(VENV)/ruff format --check .
	$(VENV)/ruff check .
	$(VENV)/mypy $(MYPY_TARGETS)

# Two xdist workers: most tests wait on child processes, servers and timeouts. One OpenMP
# thread each: the tests' tiny models have small matrices, and on a 2-core machine a second
# thread per worker only spins (an OpenVLA action took 1.3 s instead of 30 ms); it is set here,
# for the whole run and the bench processes tests start, not by one plugin's conftest.
test: lint
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(VENV)/pytest -n 2 --dist loadgroup

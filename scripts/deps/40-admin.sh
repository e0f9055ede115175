#!/usr/bin/env bash
# The admin endpoint's tests (sluice::admin) scrape GET /metrics with the Prometheus
# project's own text-format parser (prometheus_client, PyPI) in the project's venv.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

sluice_pip "prometheus_client==0.26.0"

# SPDX-License-Identifier: MIT
# A small image for the example environment (compose.yaml) and the container
# tests: a shell with ping, curl and jq, to serve, measure and drive the API.
FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	iputils-ping curl jq \
	&& apt-get clean && rm -rf /var/lib/apt/lists/*

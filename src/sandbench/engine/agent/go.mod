module sandbench/agent

go 1.19
